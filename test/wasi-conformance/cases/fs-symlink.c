// symlink, readlink, following and not following, and a loop.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  FILE *f = fopen("fs/target", "w");
  CHECK(f != NULL && fputs("via link\n", f) >= 0 && fclose(f) == 0);
  CHECK(symlink("target", "fs/link") == 0);
  CHECK(symlink("target", "fs/link") == -1 && errno == EEXIST);
  char buf[64] = {0};
  CHECK(readlink("fs/link", buf, sizeof buf) == 6);
  printf("readlink=%s\n", buf);
  CHECK(readlink("fs/target", buf, sizeof buf) == -1 && errno == EINVAL);
  struct stat st;
  CHECK(lstat("fs/link", &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(stat("fs/link", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 9);
  f = fopen("fs/link", "r");
  CHECK(f != NULL);
  memset(buf, 0, sizeof buf);
  CHECK(fgets(buf, sizeof buf, f) != NULL && fclose(f) == 0);
  printf("through=%s", buf);
  CHECK(open("fs/link", O_RDONLY | O_NOFOLLOW) == -1 && errno == ELOOP);
  CHECK(symlink("loop2", "fs/loop1") == 0);
  CHECK(symlink("loop1", "fs/loop2") == 0);
  CHECK(open("fs/loop1", O_RDONLY) == -1 && errno == ELOOP);
  CHECK(symlink("missing", "fs/dangling") == 0);
  CHECK(open("fs/dangling", O_RDONLY) == -1 && errno == ENOENT);
  CHECK(unlink("fs/link") == 0);
  CHECK(stat("fs/target", &st) == 0);
  printf("ok\n");
  return 0;
}
