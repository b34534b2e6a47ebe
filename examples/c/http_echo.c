/*
 * An HTTP handler for the gateway (docs/gateway.md): answers `<METHOD> <path>\n` followed by the
 * request body. `?status=N` answers with status N; `?sleep_ms=N` waits N ms first, in a WASI
 * clock sleep (poll_oneoff), so the worker thread is parked rather than spinning.
 *
 *   wasmatrix start examples/build/http_echo.wasm --id echo --restart always
 *   wasmatrix route add echo --path / --target echo
 *   curl -d hello 'http://127.0.0.1:8080/some/path?status=201'
 */
#define WASMATRIX_REACTOR
#include "wasmatrix.h"

#include <wasi/api.h>

static void sleep_ms(long ms) {
  __wasi_subscription_t sub = {0};
  sub.u.tag = __WASI_EVENTTYPE_CLOCK;
  sub.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  sub.u.u.clock.timeout = (__wasi_timestamp_t)ms * 1000000ull;
  __wasi_event_t event;
  __wasi_size_t n;
  (void)__wasi_poll_oneoff(&sub, &event, 1, &n);
}

// Requests this instance has run, in linear memory: the `x-echo-served` header lets a test see
// whether a request it gave up on was run anyway.
static unsigned long served;

static int http(const uint8_t *payload, size_t len) {
  served++;
  wasmatrix_http_request req;
  if (!wasmatrix_http_parse(payload, len, &req)) return wasmatrix_fail("malformed HTTP request");
  long status = 200, ms = 0;
  wasmatrix_http_query_int(&req, "status", &status);
  if (status < 100 || status > 599) status = 400;
  if (wasmatrix_http_query_int(&req, "sleep_ms", &ms) && ms > 0) sleep_ms(ms);

  size_t size = req.method_len + 1 + req.path_len + 1 + req.body_len;
  char *out = malloc(size + 1);
  if (out == NULL) return wasmatrix_fail("out of memory");
  char *o = out;
  memcpy(o, req.method, req.method_len), o += req.method_len;
  *o++ = ' ';
  memcpy(o, req.path, req.path_len), o += req.path_len;
  *o++ = '\n';
  if (req.body_len > 0) memcpy(o, req.body, req.body_len);
  size_t type_len;
  const char *type = wasmatrix_http_header(&req, "content-type", &type_len);
  // Echo the request's content type back (binary stays binary); text otherwise.
  char type_buf[128] = "text/plain; charset=utf-8";
  if (type != NULL && type_len < sizeof type_buf) memcpy(type_buf, type, type_len), type_buf[type_len] = 0;
  char method[32] = "";
  if (req.method_len < sizeof method) memcpy(method, req.method, req.method_len), method[req.method_len] = 0;
  char count[24];
  snprintf(count, sizeof count, "%lu", served);
  const char *headers[] = {"content-type", type_buf, "x-echo-method", method, "x-echo-served", count, NULL};
  int result = wasmatrix_http_respond((int)status, headers, out, size);
  free(out);
  return result;
}

WASMATRIX_INIT { wasmatrix_register("http", http); }
