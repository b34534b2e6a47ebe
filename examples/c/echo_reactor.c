/*
 * A waPC reactor showing each kind of answer a guest can give: a response, a guest error, state
 * that lives only as long as the instance, and calls out to each capability.
 *
 *   wasmatrix run examples/build/echo_reactor.wasm --invoke upper --data 'hello'
 */
#define WASMATRIX_REACTOR
#include "wasmatrix.h"

#include <ctype.h>

static int echo(const uint8_t *payload, size_t len) { return wasmatrix_respond(payload, len); }

static int upper(const uint8_t *payload, size_t len) {
  uint8_t *out = malloc(len + 1);
  if (out == NULL) return wasmatrix_fail("out of memory");
  for (size_t i = 0; i < len; i++) out[i] = (uint8_t)toupper(payload[i]);
  // The host copies the response inside __guest_response, so freeing right after is safe.
  int result = wasmatrix_respond(out, len);
  free(out);
  return result;
}

static int fail(const uint8_t *payload, size_t len) {
  (void)len;
  return wasmatrix_fail(len > 0 ? (const char *)payload : "failed on purpose");
}

// Lives in linear memory: it counts invocations of this instance and resets when the instance
// restarts. That is the point: durable state belongs in the keyvalue capability (kv_counter).
static unsigned long long invocations;

static int count(const uint8_t *payload, size_t len) {
  (void)payload, (void)len;
  char text[24];
  snprintf(text, sizeof text, "%llu", ++invocations);
  return wasmatrix_respond_str(text);
}

// Answers a failed host call with the host's error JSON as the guest error, so the caller sees
// exactly what the host said (e.g. PERMISSION_DENIED) rather than a paraphrase.
static int respond_or_fail(int ok, uint8_t *resp, size_t resp_len) {
  int result;
  if (resp == NULL) result = wasmatrix_fail("out of memory reading the host's answer");
  else if (ok) result = wasmatrix_respond(resp, resp_len);
  else result = wasmatrix_fail((const char *)resp);
  free(resp);
  return result;
}

static int kv_counter(const uint8_t *payload, size_t len) {
  (void)payload, (void)len;
  uint8_t *resp;
  size_t resp_len;
  int ok = wasmatrix_kv_increment("counter", 1, &resp, &resp_len);
  return respond_or_fail(ok, resp, resp_len);
}

static int log_payload(const uint8_t *payload, size_t len) {
  (void)len;
  uint8_t *resp;
  size_t resp_len;
  int ok = wasmatrix_host_call(WASMATRIX_DEFAULT_BINDING, WASMATRIX_LOGGING, "info", payload, len, &resp,
                               &resp_len);
  return respond_or_fail(ok, resp, resp_len);
}

// Payload: a URL. Answers with the response's status only, to keep JSON parsing out of a C
// example; the full answer is {"status":...,"headers":{...},"body":"..."}.
static int http_get(const uint8_t *payload, size_t len) {
  char *request = malloc(6 * len + 64);
  if (request == NULL) return wasmatrix_fail("out of memory");
  char *o = request + sprintf(request, "{\"method\":\"GET\",\"url\":");
  o += wasmatrix__json_string(o, (const char *)payload);
  strcpy(o, ",\"headers\":{},\"body\":\"\"}");
  uint8_t *resp;
  size_t resp_len;
  int ok = wasmatrix_host_call(WASMATRIX_DEFAULT_BINDING, WASMATRIX_HTTP, "request", request, strlen(request),
                               &resp, &resp_len);
  free(request);
  if (!ok || resp == NULL) return respond_or_fail(ok, resp, resp_len);
  const char *status = strstr((const char *)resp, "\"status\":");
  char text[16];
  snprintf(text, sizeof text, "%ld", status ? strtol(status + 9, NULL, 10) : -1L);
  free(resp);
  return wasmatrix_respond_str(text);
}

// Payload: the JSON {"subject":"...","data":"..."} the messaging capability takes, passed through.
static int publish(const uint8_t *payload, size_t len) {
  uint8_t *resp;
  size_t resp_len;
  int ok = wasmatrix_host_call(WASMATRIX_DEFAULT_BINDING, WASMATRIX_MESSAGING, "publish", payload, len, &resp,
                               &resp_len);
  return respond_or_fail(ok, resp, resp_len);
}

// Payload: a decimal byte count. Writes that many bytes of 80-column lines to stdout in 64 KiB
// writes, then answers the count: a reactor flooding its output during one invocation.
static int flood(const uint8_t *payload, size_t len) {
  static char chunk[64 * 1024];
  char digits[24] = {0};
  memcpy(digits, payload, len < sizeof digits - 1 ? len : sizeof digits - 1);
  unsigned long long total = strtoull(digits, NULL, 10);
  memset(chunk, 'x', sizeof chunk);
  for (size_t i = 79; i < sizeof chunk; i += 80) chunk[i] = '\n';
  for (unsigned long long written = 0; written < total;) {
    size_t n = total - written > sizeof chunk ? sizeof chunk : (size_t)(total - written);
    written += fwrite(chunk, 1, n, stdout);
  }
  fflush(stdout);
  return wasmatrix_respond_str(digits);
}

WASMATRIX_INIT {
  wasmatrix_register("echo", echo);
  wasmatrix_register("upper", upper);
  wasmatrix_register("fail", fail);
  wasmatrix_register("count", count);
  wasmatrix_register("kv_counter", kv_counter);
  wasmatrix_register("log", log_payload);
  wasmatrix_register("http_get", http_get);
  wasmatrix_register("publish", publish);
  wasmatrix_register("flood", flood);
}
