// Nothing outside the preopen can be reached: not by "..", an absolute path, or a symlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static void refused(const char *path) {
  errno = 0;
  int fd = open(path, O_RDONLY);
  CHECK(fd == -1);
  printf("%s: refused\n", path);
}

int main(void) {
  refused("fs/..");
  refused("fs/../fs-escape.c");
  refused("fs/sub/../../x");
  refused("/etc/passwd");
  CHECK(symlink("../..", "fs/up") == 0);
  refused("fs/up/etc/passwd");
  // Hostile links: an absolute one, and one climbing out through a real directory.
  CHECK(mkdir("fs/d", 0755) == 0);
  CHECK(symlink("../../..", "fs/d/out") == 0);
  refused("fs/d/out/etc/passwd");
  struct stat st;
  CHECK(stat("fs/d/out", &st) == -1);
  CHECK(mkdir("fs/..", 0755) == -1);
  printf("ok\n");
  return 0;
}
