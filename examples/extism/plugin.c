/*
 * An Extism plugin written against the PDK ABI by hand (extism.h), freestanding: it runs
 * unchanged under wasmatrix and under @extism/extism. Each export is one test's subject.
 */
#include "extism.h"

/* Freestanding: clang may still turn copy loops into calls to these. */
void *memcpy(void *dst, const void *src, __SIZE_TYPE__ n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, __SIZE_TYPE__ n) {
  uint8_t *d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}

#define BUF 65536
static uint8_t buf[BUF];
static uint8_t out[BUF + 64];

static uint64_t read_input(void) {
  uint64_t n = extism_input_length();
  if (n > BUF) n = BUF;
  extism_load_input(buf, n);
  return n;
}

static int32_t output(const uint8_t *bytes, uint64_t n) {
  ExtismPointer p = extism_alloc_bytes(bytes, n);
  if (p == 0) return 1;
  extism_output_set(p, n);
  return 0;
}

static int32_t fail(const char *message) {
  extism_error_set(extism_alloc_string(message));
  return 1;
}

static uint64_t append(uint64_t at, const char *s) {
  while (*s && at < sizeof out) out[at++] = (uint8_t)*s++;
  return at;
}

static uint64_t append_u64(uint64_t at, uint64_t v) {
  char digits[21];
  int i = 20;
  digits[i] = 0;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return append(at, digits + i);
}

/* The input back, untouched: the benchmark's call. */
EXTISM_EXPORT("echo") int32_t echo(void) {
  uint64_t n = read_input();
  return output(buf, n);
}

EXTISM_EXPORT("greet") int32_t greet(void) {
  uint64_t n = read_input();
  uint64_t at = append(0, "Hello, ");
  for (uint64_t i = 0; i < n && at < sizeof out; i++) out[at++] = buf[i];
  at = append(at, "!");
  return output(out, at);
}

/* A counter kept in the var "count" (8 bytes, little-endian) across calls. */
EXTISM_EXPORT("count") int32_t count(void) {
  ExtismPointer key = extism_alloc_string("count");
  ExtismPointer value = extism_var_get(key);
  uint64_t n = 0;
  if (value != 0 && extism_length(value) == 8) n = extism_load_u64(value);
  n++;
  ExtismPointer next = extism_alloc(8);
  extism_store_u64(next, n);
  extism_var_set(key, next);
  return output(out, append_u64(0, n));
}

/* The config value named by the input. */
EXTISM_EXPORT("config") int32_t config(void) {
  uint64_t n = read_input();
  ExtismPointer value = extism_config_get(extism_alloc_bytes(buf, n));
  if (value == 0) return fail("no such config key");
  uint64_t length = extism_length(value);
  if (length > BUF) length = BUF;
  extism_load(value, buf, length);
  return output(buf, length);
}

EXTISM_EXPORT("fail") int32_t fail_export(void) { return fail("something went wrong"); }

/* A non-zero return without an error message. */
EXTISM_EXPORT("fail_code") int32_t fail_code(void) { return 7; }

EXTISM_EXPORT("log") int32_t log_export(void) {
  extism_log_info(extism_alloc_string("an info line"));
  extism_log_warn(extism_alloc_string("a warning"));
  extism_log_error(extism_alloc_string("an error line"));
  extism_log_debug(extism_alloc_string("a debug line"));
  return output((const uint8_t *)"logged", 6);
}

/* GET the URL in the input: answers "<status> <body>". */
EXTISM_EXPORT("http_get") int32_t http_get(void) {
  uint64_t n = read_input();
  uint64_t at = append(0, "{\"method\":\"GET\",\"url\":\"");
  for (uint64_t i = 0; i < n && at < sizeof out; i++) out[at++] = buf[i];
  at = append(at, "\",\"headers\":{\"x-plugin\":\"wasmatrix-test\"}}");
  ExtismPointer response = extism_http_request(extism_alloc_bytes(out, at), 0);
  uint64_t length = response == 0 ? 0 : extism_length(response);
  if (length > BUF) length = BUF;
  if (length) extism_load(response, buf, length);
  at = append_u64(0, (uint64_t)extism_http_status_code());
  at = append(at, " ");
  for (uint64_t i = 0; i < length && at < sizeof out; i++) out[at++] = buf[i];
  return output(out, at);
}

EXTISM_EXPORT("crash") int32_t crash(void) { __builtin_trap(); }

/* Never returns: only fuel or the deadline stop it. */
EXTISM_EXPORT("spin") int32_t spin(void) {
  volatile uint64_t n = 0;
  for (;;) n++;
}

/* Grows linear memory a page at a time until refused, then traps (as an allocator would). */
EXTISM_EXPORT("grow") int32_t grow(void) {
  for (;;) {
    if (__builtin_wasm_memory_grow(0, 1) == (__SIZE_TYPE__)-1) __builtin_trap();
  }
}

/* Allocates kernel blocks of the input's decimal size until the host refuses. */
EXTISM_EXPORT("alloc_until_refused") int32_t alloc_until_refused(void) {
  uint64_t n = read_input(), size = 0;
  for (uint64_t i = 0; i < n; i++) size = size * 10 + (buf[i] - '0');
  uint64_t blocks = 0;
  while (extism_alloc(size) != 0) blocks++;
  return fail("kernel memory refused an allocation");
  (void)blocks;
}

/* Reads kernel memory it never allocated: a broken plugin. */
EXTISM_EXPORT("bad_load") int32_t bad_load(void) {
  return (int32_t)extism_load_u64((ExtismPointer)1 << 40);
}
