// Arguments and environment arrive as given, and nothing else is in the environment.
#include "check.h"

extern char **environ;

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) printf("arg %d=%s\n", i, argv[i]);
  int count = 0;
  for (char **e = environ; *e != NULL; e++) count++;
  printf("env count=%d\n", count);
  const char *v = getenv("GREETING");
  printf("GREETING=%s\n", v ? v : "(unset)");
  return 0;
}
