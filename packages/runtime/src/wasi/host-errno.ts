import { WasiErrno } from "./errno.js";

/**
 * Host (libuv/POSIX) error codes to WASI errnos. The names match one to one except where POSIX
 * has aliases; anything unlisted is IO, which tells the guest "the host failed" without inventing
 * a cause.
 */
const BY_CODE: Readonly<Record<string, WasiErrno>> = {
  E2BIG: WasiErrno.TOOBIG,
  EACCES: WasiErrno.ACCES,
  EAGAIN: WasiErrno.AGAIN,
  EWOULDBLOCK: WasiErrno.AGAIN,
  EBADF: WasiErrno.BADF,
  EBUSY: WasiErrno.BUSY,
  EDQUOT: WasiErrno.DQUOT,
  EEXIST: WasiErrno.EXIST,
  EFAULT: WasiErrno.FAULT,
  EFBIG: WasiErrno.FBIG,
  EILSEQ: WasiErrno.ILSEQ,
  EINTR: WasiErrno.INTR,
  EINVAL: WasiErrno.INVAL,
  EIO: WasiErrno.IO,
  EISDIR: WasiErrno.ISDIR,
  ELOOP: WasiErrno.LOOP,
  EMFILE: WasiErrno.NFILE,
  EMLINK: WasiErrno.MLINK,
  ENAMETOOLONG: WasiErrno.NAMETOOLONG,
  ENFILE: WasiErrno.NFILE,
  ENODEV: WasiErrno.NODEV,
  ENOENT: WasiErrno.NOENT,
  ENOMEM: WasiErrno.NOMEM,
  ENOSPC: WasiErrno.NOSPC,
  ENOSYS: WasiErrno.NOSYS,
  ENOTDIR: WasiErrno.NOTDIR,
  ENOTEMPTY: WasiErrno.NOTEMPTY,
  ENOTSUP: WasiErrno.NOTSUP,
  EOPNOTSUPP: WasiErrno.NOTSUP,
  ENXIO: WasiErrno.NXIO,
  EOVERFLOW: WasiErrno.OVERFLOW,
  EPERM: WasiErrno.PERM,
  EROFS: WasiErrno.ROFS,
  ESPIPE: WasiErrno.SPIPE,
  ETXTBSY: WasiErrno.TXTBSY,
  EXDEV: WasiErrno.XDEV,
};

/**
 * The errno for a failed node:fs call. The host process running out of descriptors (EMFILE) is
 * NFILE to the guest: its own table (MFILE) is not what is full, the system it shares is.
 */
export function errnoOf(error: unknown): WasiErrno {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code in BY_CODE) return BY_CODE[code]!;
  if (error instanceof RangeError || error instanceof TypeError) return WasiErrno.INVAL;
  return WasiErrno.IO;
}
