// Hard links share an inode and count their links.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  FILE *f = fopen("fs/one", "w");
  CHECK(f != NULL && fputs("shared", f) >= 0 && fclose(f) == 0);
  CHECK(link("fs/one", "fs/two") == 0);
  struct stat a, b;
  CHECK(stat("fs/one", &a) == 0 && stat("fs/two", &b) == 0);
  CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
  printf("nlink=%d\n", (int)a.st_nlink);
  CHECK(link("fs/one", "fs/two") == -1 && errno == EEXIST);
  CHECK(unlink("fs/one") == 0);
  CHECK(stat("fs/two", &b) == 0 && b.st_nlink == 1 && b.st_size == 6);
  printf("ok\n");
  return 0;
}
