// rename over files and directories, unlink, and their errnos.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static void touch(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  CHECK(fclose(f) == 0);
}

int main(void) {
  touch("fs/a", "A");
  touch("fs/b", "B");
  CHECK(rename("fs/a", "fs/b") == 0);
  struct stat st;
  CHECK(stat("fs/a", &st) == -1 && errno == ENOENT);
  char buf[4] = {0};
  FILE *f = fopen("fs/b", "r");
  CHECK(f != NULL && fread(buf, 1, 3, f) == 1 && fclose(f) == 0);
  printf("b=%s\n", buf);
  CHECK(mkdir("fs/dir", 0755) == 0);
  CHECK(rename("fs/b", "fs/dir") == -1 && errno == EISDIR);
  CHECK(rename("fs/dir", "fs/b") == -1 && errno == ENOTDIR);
  CHECK(rename("fs/b", "fs/dir/b") == 0);
  CHECK(rename("fs/dir", "fs/moved") == 0);
  CHECK(stat("fs/moved/b", &st) == 0 && st.st_size == 1);
  CHECK(rename("fs/nothing", "fs/x") == -1 && errno == ENOENT);
  CHECK(unlink("fs/moved/b") == 0);
  CHECK(unlink("fs/moved/b") == -1 && errno == ENOENT);
  CHECK(rmdir("fs/moved") == 0);
  printf("ok\n");
  return 0;
}
