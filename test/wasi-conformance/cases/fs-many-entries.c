// A directory longer than one readdir buffer: every entry comes back exactly once.
#include <dirent.h>
#include <sys/stat.h>
#include "check.h"

int main(void) {
  CHECK(mkdir("fs/many", 0755) == 0);
  char path[64];
  for (int i = 0; i < 300; i++) {
    snprintf(path, sizeof path, "fs/many/entry-with-a-longish-name-%03d", i);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fclose(f) == 0);
  }
  DIR *dir = opendir("fs/many");
  CHECK(dir != NULL);
  int seen[300] = {0};
  int files = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    int n;
    if (sscanf(e->d_name, "entry-with-a-longish-name-%d", &n) == 1) {
      CHECK(n >= 0 && n < 300 && seen[n] == 0);
      CHECK(e->d_type == DT_REG);
      seen[n] = 1;
      files++;
    }
  }
  CHECK(closedir(dir) == 0);
  printf("files=%d\n", files);
  return 0;
}
