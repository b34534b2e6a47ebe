// Volume: 4 MiB written in 4 KiB blocks, read back, then 200 small files created and removed.
#include <fcntl.h>
#include <unistd.h>
#include "check.h"

static char block[4096];

int main(void) {
  for (int i = 0; i < (int)sizeof block; i++) block[i] = (char)i;
  int fd = open("fs/volume", O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(fd >= 0);
  for (int i = 0; i < 1024; i++) CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  long sum = 0;
  ssize_t n;
  while ((n = read(fd, block, sizeof block)) > 0) sum += n;
  CHECK(sum == 4L * 1024 * 1024);
  CHECK(close(fd) == 0);
  char path[32];
  for (int i = 0; i < 200; i++) {
    snprintf(path, sizeof path, "fs/small-%d", i);
    int f = open(path, O_CREAT | O_WRONLY, 0644);
    CHECK(f >= 0 && write(f, path, 8) == 8 && close(f) == 0);
  }
  for (int i = 0; i < 200; i++) {
    snprintf(path, sizeof path, "fs/small-%d", i);
    CHECK(unlink(path) == 0);
  }
  printf("read %ld bytes\n", sum);
  return 0;
}
