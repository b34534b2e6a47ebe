// Create a file in a preopen, write it, read it back, stat its size.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  FILE *f = fopen("fs/hello.txt", "w");
  CHECK(f != NULL);
  CHECK(fputs("hello, file\n", f) >= 0);
  CHECK(fclose(f) == 0);
  struct stat st;
  CHECK(stat("fs/hello.txt", &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  printf("size=%lld\n", (long long)st.st_size);
  char line[64] = {0};
  f = fopen("fs/hello.txt", "r");
  CHECK(f != NULL);
  CHECK(fgets(line, sizeof line, f) != NULL);
  CHECK(fclose(f) == 0);
  printf("read=%s", line);
  CHECK(open("fs/missing.txt", O_RDONLY) == -1 && errno == ENOENT);
  CHECK(open("fs/hello.txt", O_CREAT | O_EXCL | O_WRONLY, 0644) == -1 && errno == EEXIST);
  printf("ok\n");
  return 0;
}
