/*
 * wasmatrix.h — the wasmatrix guest ABI for C guests (clang --target=wasm32-wasi).
 *
 * One header, nothing to link. Everything is `static` except the reactor entry point, so any
 * file may include it; in exactly one file of a reactor, `#define WASMATRIX_REACTOR` before the
 * include to get the handler table and the `__guest_call` export.
 *
 * The protocol is waPC (docs/abi.md). The host owns no allocator in the guest: for every
 * transfer the guest learns a length, mallocs, and hands the host a pointer to fill. Buffers
 * the helpers return are NUL-terminated (one byte beyond their length) so text payloads can be
 * used as C strings, and are the caller's to free().
 *
 *   #define WASMATRIX_REACTOR
 *   #include "wasmatrix.h"
 *
 *   static int echo(const uint8_t *payload, size_t len) { return wasmatrix_respond(payload, len); }
 *
 *   WASMATRIX_INIT { wasmatrix_register("echo", echo); }
 */
#ifndef WASMATRIX_H
#define WASMATRIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WASMATRIX_WAPC_IMPORT(name) __attribute__((import_module("wapc"), import_name(name)))

/* ---- waPC imports (module "wapc"); lengths are bytes, strings are UTF-8, not NUL-terminated. */

/* Copies the current invocation's operation name and payload into the guest's buffers. */
WASMATRIX_WAPC_IMPORT("__guest_request") void wasmatrix__guest_request(uint8_t *op, uint8_t *payload);
/* The invocation's successful answer; the host copies it before returning. */
WASMATRIX_WAPC_IMPORT("__guest_response") void wasmatrix__guest_response(const uint8_t *ptr, size_t len);
/* The invocation's error message; `__guest_call` must then return 0. */
WASMATRIX_WAPC_IMPORT("__guest_error") void wasmatrix__guest_error(const uint8_t *ptr, size_t len);
/* A capability call: 1 = ok (read __host_response), 0 = error (read __host_error). */
WASMATRIX_WAPC_IMPORT("__host_call")
int wasmatrix__host_call(const uint8_t *binding, size_t binding_len, const uint8_t *ns, size_t ns_len,
                         const uint8_t *op, size_t op_len, const uint8_t *payload, size_t payload_len);
WASMATRIX_WAPC_IMPORT("__host_response_len") size_t wasmatrix__host_response_len(void);
WASMATRIX_WAPC_IMPORT("__host_response") void wasmatrix__host_response(uint8_t *ptr);
WASMATRIX_WAPC_IMPORT("__host_error_len") size_t wasmatrix__host_error_len(void);
WASMATRIX_WAPC_IMPORT("__host_error") void wasmatrix__host_error(uint8_t *ptr);
/* A line for the instance's log, outside any capability (no assignment needed). */
WASMATRIX_WAPC_IMPORT("__console_log") void wasmatrix__console_log(const uint8_t *ptr, size_t len);

/* ---- Capability namespaces and the binding used when an instance has one assignment each. */

#define WASMATRIX_KEYVALUE "wasmatrix:keyvalue"
#define WASMATRIX_HTTP "wasmatrix:http"
#define WASMATRIX_MESSAGING "wasmatrix:messaging"
#define WASMATRIX_LOGGING "wasmatrix:logging"
#define WASMATRIX_DEFAULT_BINDING "default"

/* ---- Answering an invocation. A handler returns what one of these returns. */

static inline int wasmatrix_respond(const void *data, size_t len) {
  wasmatrix__guest_response((const uint8_t *)data, len);
  return 1;
}

static inline int wasmatrix_respond_str(const char *text) { return wasmatrix_respond(text, strlen(text)); }

/* The caller of Invoke sees `message` as the guest error; the instance stays healthy. */
static inline int wasmatrix_fail(const char *message) {
  wasmatrix__guest_error((const uint8_t *)message, strlen(message));
  return 0;
}

static inline void wasmatrix_console_log(const char *message) {
  wasmatrix__console_log((const uint8_t *)message, strlen(message));
}

/* ---- Host calls. */

/* Reads the host's answer (or error) into a fresh NUL-terminated buffer; NULL if malloc fails. */
static inline uint8_t *wasmatrix__take(size_t len, void (*read)(uint8_t *)) {
  uint8_t *buf = malloc(len + 1);
  if (buf == NULL) return NULL;
  if (len > 0) read(buf);
  buf[len] = 0;
  return buf;
}

/*
 * Calls `op` on capability `ns` through assignment `binding`. Returns 1 and the response in
 * *resp, or 0 and the host's error JSON ({"code":"...","message":"..."}) in *resp. Either way
 * *resp is malloc'd (free it) and NUL-terminated; it is NULL only if malloc failed.
 */
static inline int wasmatrix_host_call(const char *binding, const char *ns, const char *op, const void *payload,
                               size_t len, uint8_t **resp, size_t *resp_len) {
  int ok = wasmatrix__host_call((const uint8_t *)binding, strlen(binding), (const uint8_t *)ns, strlen(ns),
                                (const uint8_t *)op, strlen(op), (const uint8_t *)payload, len);
  size_t n = ok ? wasmatrix__host_response_len() : wasmatrix__host_error_len();
  *resp = wasmatrix__take(n, ok ? wasmatrix__host_response : wasmatrix__host_error);
  *resp_len = *resp == NULL ? 0 : n;
  return ok && *resp != NULL;
}

/* Logs through the logging capability: `level` is trace|debug|info|warn|error|fatal. */
static inline int wasmatrix_log(const char *level, const char *message) {
  uint8_t *resp;
  size_t resp_len;
  int ok = wasmatrix_host_call(WASMATRIX_DEFAULT_BINDING, WASMATRIX_LOGGING, level, message, strlen(message),
                               &resp, &resp_len);
  free(resp);
  return ok;
}

/* ---- Keyvalue helpers. Payloads are JSON, so keys and values are escaped as JSON strings. */

/* Writes `s` as a quoted JSON string into `out`, which must hold 6 * strlen(s) + 3 bytes. */
static inline size_t wasmatrix__json_string(char *out, const char *s) {
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      *o++ = '\\';
      *o++ = (char)*p;
    } else if (*p < 0x20) {
      *o++ = '\\', *o++ = 'u', *o++ = '0', *o++ = '0';
      *o++ = hex[*p >> 4], *o++ = hex[*p & 15];
    } else {
      *o++ = (char)*p;
    }
  }
  *o++ = '"';
  *o = 0;
  return (size_t)(o - out);
}

/* Builds {"key":<key>[,<field>:<raw or string>]} — the one payload shape keyvalue needs. */
static inline char *wasmatrix__kv_payload(const char *key, const char *field, const char *value, int value_is_raw) {
  size_t cap = 6 * strlen(key) + (value ? 6 * strlen(value) + strlen(field) : 0) + 32;
  char *buf = malloc(cap);
  if (buf == NULL) return NULL;
  char *o = buf + sprintf(buf, "{\"key\":");
  o += wasmatrix__json_string(o, key);
  if (value != NULL) {
    o += sprintf(o, ",\"%s\":", field);
    o += value_is_raw ? (size_t)sprintf(o, "%s", value) : wasmatrix__json_string(o, value);
  }
  *o++ = '}';
  *o = 0;
  return buf;
}

static inline int wasmatrix__kv(const char *op, char *payload, uint8_t **resp, size_t *resp_len) {
  if (payload == NULL) {
    *resp = NULL;
    *resp_len = 0;
    return 0;
  }
  int ok = wasmatrix_host_call(WASMATRIX_DEFAULT_BINDING, WASMATRIX_KEYVALUE, op, payload, strlen(payload), resp,
                               resp_len);
  free(payload);
  return ok;
}

/*
 * The value's bytes in *value (NUL-terminated, free it). A missing key answers with no bytes,
 * like an empty value; ask `exists` (wasmatrix_host_call) when the difference matters.
 */
static inline int wasmatrix_kv_get(const char *key, uint8_t **value, size_t *value_len) {
  return wasmatrix__kv("get", wasmatrix__kv_payload(key, NULL, NULL, 0), value, value_len);
}

/* On failure *error holds the host's error JSON (free it); on success it is NULL. */
static inline int wasmatrix_kv_set(const char *key, const char *value, uint8_t **error) {
  size_t len;
  int ok = wasmatrix__kv("set", wasmatrix__kv_payload(key, "value", value, 0), error, &len);
  if (ok) {
    free(*error);
    *error = NULL;
  }
  return ok;
}

/* Adds `by` atomically (a missing key counts as 0); *result is the new value as JSON number text. */
static inline int wasmatrix_kv_increment(const char *key, long long by, uint8_t **result, size_t *result_len) {
  char number[24];
  snprintf(number, sizeof number, "%lld", by);
  return wasmatrix__kv("increment", wasmatrix__kv_payload(key, "by", number, 1), result, result_len);
}

/* ---- HTTP handlers (docs/abi.md, "HTTP handlers"): the gateway's request in, the answer out.
 * Everything is length-prefixed little-endian; pointers in the parsed request point into the
 * payload (not NUL-terminated), so they live as long as the payload does. */

typedef struct {
  const char *method;
  size_t method_len;
  const char *path;
  size_t path_len;
  const char *query; /* without the '?' */
  size_t query_len;
  size_t header_count;
  const uint8_t *headers; /* header_count × (u16 name_len, name, u32 value_len, value) */
  const uint8_t *body;
  size_t body_len;
} wasmatrix_http_request;

static inline uint32_t wasmatrix__le(const uint8_t *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Reads `n`-byte length then that many bytes; 0 when the payload is too short. */
static inline int wasmatrix__field(const uint8_t **at, const uint8_t *end, int n, const uint8_t **out,
                                   size_t *out_len) {
  if ((size_t)(end - *at) < (size_t)n) return 0;
  size_t len = wasmatrix__le(*at, n);
  *at += n;
  if ((size_t)(end - *at) < len) return 0;
  *out = *at;
  *out_len = len;
  *at += len;
  return 1;
}

/* Parses the gateway's request; 0 if it is malformed (answer with wasmatrix_fail). */
static inline int wasmatrix_http_parse(const uint8_t *payload, size_t len, wasmatrix_http_request *req) {
  const uint8_t *at = payload, *end = payload + len, *p;
  size_t n;
  if (len < 1 || *at++ != 1) return 0; /* version 1 */
  if (!wasmatrix__field(&at, end, 1, &p, &n)) return 0;
  req->method = (const char *)p, req->method_len = n;
  if (!wasmatrix__field(&at, end, 4, &p, &n)) return 0;
  req->path = (const char *)p, req->path_len = n;
  if (!wasmatrix__field(&at, end, 4, &p, &n)) return 0;
  req->query = (const char *)p, req->query_len = n;
  if (end - at < 2) return 0;
  req->header_count = wasmatrix__le(at, 2);
  at += 2;
  req->headers = at;
  for (size_t i = 0; i < req->header_count; i++) {
    const uint8_t *v;
    size_t vn;
    if (!wasmatrix__field(&at, end, 2, &p, &n) || !wasmatrix__field(&at, end, 4, &v, &vn)) return 0;
  }
  if (!wasmatrix__field(&at, end, 4, &p, &n)) return 0;
  req->body = p, req->body_len = n;
  return at == end;
}

/* The first value of header `name` (lower case); NULL when absent. */
static inline const char *wasmatrix_http_header(const wasmatrix_http_request *req, const char *name,
                                                size_t *value_len) {
  const uint8_t *at = req->headers, *end = req->body, *p, *v;
  size_t n, vn, want = strlen(name);
  for (size_t i = 0; i < req->header_count; i++) {
    wasmatrix__field(&at, end, 2, &p, &n);
    wasmatrix__field(&at, end, 4, &v, &vn);
    if (n == want && memcmp(p, name, n) == 0) {
      *value_len = vn;
      return (const char *)v;
    }
  }
  return NULL;
}

/* The query parameter `name` as a non-negative integer (no percent-decoding); 0 when absent or not a number. */
static inline int wasmatrix_http_query_int(const wasmatrix_http_request *req, const char *name, long *value) {
  size_t want = strlen(name);
  const char *q = req->query, *end = req->query + req->query_len;
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - q) > want && memcmp(q, name, want) == 0 && q[want] == '=') {
      long v = 0;
      const char *d = q + want + 1;
      if (d == stop) return 0;
      for (; d < stop; d++) {
        if (*d < '0' || *d > '9' || v > 100000000L) return 0;
        v = v * 10 + (*d - '0');
      }
      *value = v;
      return 1;
    }
    q = stop + 1;
  }
  return 0;
}

/*
 * Answers with `status`, the headers given as name/value pairs in `headers` (NULL-terminated
 * array, may be NULL), and `body`. Returns what a handler returns.
 */
static inline int wasmatrix_http_respond(int status, const char *const *headers, const void *body,
                                         size_t body_len) {
  size_t count = 0, size = 2 + 2 + 4 + body_len;
  for (const char *const *h = headers; h != NULL && h[0] != NULL; h += 2, count++)
    size += 2 + strlen(h[0]) + 4 + strlen(h[1]);
  uint8_t *out = malloc(size), *o = out;
  if (out == NULL) return wasmatrix_fail("out of memory for the HTTP answer");
#define WASMATRIX__PUT(v, n)                                      \
  for (int wasmatrix__i = 0; wasmatrix__i < (n); wasmatrix__i++) \
    *o++ = (uint8_t)(((uint32_t)(v)) >> (8 * wasmatrix__i));
  WASMATRIX__PUT(status, 2);
  WASMATRIX__PUT(count, 2);
  for (const char *const *h = headers; h != NULL && h[0] != NULL; h += 2) {
    size_t n = strlen(h[0]), vn = strlen(h[1]);
    WASMATRIX__PUT(n, 2);
    memcpy(o, h[0], n), o += n;
    WASMATRIX__PUT(vn, 4);
    memcpy(o, h[1], vn), o += vn;
  }
  WASMATRIX__PUT(body_len, 4);
#undef WASMATRIX__PUT
  if (body_len > 0) memcpy(o, body, body_len);
  int result = wasmatrix_respond(out, size);
  free(out);
  return result;
}

/* ---- Reactors: the handler table and the `__guest_call` export. */

/* Answers one invocation; `payload` is NUL-terminated one byte past `len`. */
typedef int (*wasmatrix_handler)(const uint8_t *payload, size_t len);

/*
 * Handlers are registered from a constructor: wasi-libc's reactor `_initialize` runs
 * constructors, and the host calls `_initialize` once per instance before any invocation.
 */
#define WASMATRIX_INIT __attribute__((constructor)) static void wasmatrix_init_handlers(void)

#ifdef WASMATRIX_REACTOR

#ifndef WASMATRIX_MAX_HANDLERS
#define WASMATRIX_MAX_HANDLERS 32
#endif

static struct {
  const char *op;
  wasmatrix_handler fn;
} wasmatrix__handlers[WASMATRIX_MAX_HANDLERS];
static size_t wasmatrix__handler_count;

/* Returns 0 when the table is full (raise WASMATRIX_MAX_HANDLERS). */
static inline int wasmatrix_register(const char *op, wasmatrix_handler fn) {
  if (wasmatrix__handler_count == WASMATRIX_MAX_HANDLERS) return 0;
  wasmatrix__handlers[wasmatrix__handler_count].op = op;
  wasmatrix__handlers[wasmatrix__handler_count].fn = fn;
  wasmatrix__handler_count++;
  return 1;
}

__attribute__((export_name("__guest_call"))) int __guest_call(size_t op_len, size_t payload_len) {
  // One allocation for both, each NUL-terminated, so handlers can treat text payloads as strings.
  uint8_t *buf = malloc(op_len + payload_len + 2);
  if (buf == NULL) return wasmatrix_fail("guest out of memory for the request");
  uint8_t *op = buf, *payload = buf + op_len + 1;
  wasmatrix__guest_request(op, payload);
  op[op_len] = 0;
  payload[payload_len] = 0;

  int result = -1;
  for (size_t i = 0; i < wasmatrix__handler_count; i++) {
    if (strlen(wasmatrix__handlers[i].op) == op_len && memcmp(wasmatrix__handlers[i].op, op, op_len) == 0) {
      result = wasmatrix__handlers[i].fn(payload, payload_len);
      break;
    }
  }
  if (result < 0) {
    char message[160];
    snprintf(message, sizeof message, "unknown operation '%.100s'", (const char *)op);
    result = wasmatrix_fail(message);
  }
  free(buf);
  return result;
}

#endif /* WASMATRIX_REACTOR */
#endif /* WASMATRIX_H */
