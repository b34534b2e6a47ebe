// Setting access and modification times, on a path and on a descriptor.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(void) {
  int fd = open("fs/t", O_CREAT | O_WRONLY, 0644);
  CHECK(fd >= 0);
  struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 0}, {.tv_sec = 1234567890, .tv_nsec = 0}};
  CHECK(futimens(fd, times) == 0);
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  printf("atime=%lld mtime=%lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = 1500000000;
  CHECK(utimensat(AT_FDCWD, "fs/t", times, 0) == 0);
  CHECK(stat("fs/t", &st) == 0);
  printf("atime=%lld mtime=%lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
  CHECK(close(fd) == 0);
  printf("ok\n");
  return 0;
}
