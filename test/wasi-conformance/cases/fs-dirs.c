// mkdir, listing a directory, rmdir, and the errnos of the usual mistakes.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
  CHECK(mkdir("fs/d", 0755) == 0);
  CHECK(mkdir("fs/d", 0755) == -1 && errno == EEXIST);
  CHECK(mkdir("fs/d/sub/", 0755) == 0);
  FILE *f = fopen("fs/d/a.txt", "w");
  CHECK(f != NULL && fclose(f) == 0);
  DIR *dir = opendir("fs/d");
  CHECK(dir != NULL);
  char *names[8];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    CHECK(n < 8);
    names[n++] = strdup(e->d_name);
  }
  CHECK(closedir(dir) == 0);
  qsort(names, n, sizeof names[0], cmp);
  for (int i = 0; i < n; i++) printf("%s\n", names[i]);
  CHECK(rmdir("fs/d") == -1 && errno == ENOTEMPTY);
  CHECK(rmdir("fs/d/a.txt") == -1 && errno == ENOTDIR);
  CHECK(unlink("fs/d/sub") == -1 && (errno == EISDIR || errno == EPERM));
  CHECK(rmdir("fs/d/sub") == 0);
  CHECK(unlink("fs/d/a.txt") == 0);
  CHECK(rmdir("fs/d") == 0);
  struct stat st;
  CHECK(stat("fs/d", &st) == -1 && errno == ENOENT);
  printf("ok\n");
  return 0;
}
