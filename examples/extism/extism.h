/*
 * The Extism host functions a plugin imports (module "extism:host/env"), written from the PDK
 * ABI (extism/c-pdk's extism-pdk.h, extism/extism's kernel): u64 offsets into the host's
 * kernel memory, which the plugin reaches only through these calls. No libc needed.
 */
#pragma once
#include <stdint.h>

typedef uint64_t ExtismPointer;

#define EXTISM_IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))
#define EXTISM_EXPORT(name) __attribute__((export_name(name)))

EXTISM_IMPORT("input_length") extern uint64_t extism_input_length(void);
EXTISM_IMPORT("input_load_u8") extern uint8_t extism_input_load_u8(uint64_t);
EXTISM_IMPORT("input_load_u64") extern uint64_t extism_input_load_u64(uint64_t);
EXTISM_IMPORT("output_set") extern void extism_output_set(ExtismPointer, uint64_t);
EXTISM_IMPORT("error_set") extern void extism_error_set(ExtismPointer);
EXTISM_IMPORT("alloc") extern ExtismPointer extism_alloc(uint64_t);
EXTISM_IMPORT("free") extern void extism_free(ExtismPointer);
EXTISM_IMPORT("length") extern uint64_t extism_length(ExtismPointer);
EXTISM_IMPORT("load_u8") extern uint8_t extism_load_u8(ExtismPointer);
EXTISM_IMPORT("load_u64") extern uint64_t extism_load_u64(ExtismPointer);
EXTISM_IMPORT("store_u8") extern void extism_store_u8(ExtismPointer, uint8_t);
EXTISM_IMPORT("store_u64") extern void extism_store_u64(ExtismPointer, uint64_t);
EXTISM_IMPORT("config_get") extern ExtismPointer extism_config_get(ExtismPointer);
EXTISM_IMPORT("var_get") extern ExtismPointer extism_var_get(ExtismPointer);
EXTISM_IMPORT("var_set") extern void extism_var_set(ExtismPointer, ExtismPointer);
EXTISM_IMPORT("http_request") extern ExtismPointer extism_http_request(ExtismPointer, ExtismPointer);
EXTISM_IMPORT("http_status_code") extern int32_t extism_http_status_code(void);
EXTISM_IMPORT("log_info") extern void extism_log_info(ExtismPointer);
EXTISM_IMPORT("log_debug") extern void extism_log_debug(ExtismPointer);
EXTISM_IMPORT("log_warn") extern void extism_log_warn(ExtismPointer);
EXTISM_IMPORT("log_error") extern void extism_log_error(ExtismPointer);

/* Copies host memory to ours and back, 8 bytes at a time where it can, as the PDKs do. */
static inline void extism_load(ExtismPointer from, uint8_t *to, uint64_t n) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word = extism_load_u64(from + i);
    __builtin_memcpy(to + i, &word, 8);
  }
  for (; i < n; i++) to[i] = extism_load_u8(from + i);
}

static inline void extism_load_input(uint8_t *to, uint64_t n) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word = extism_input_load_u64(i);
    __builtin_memcpy(to + i, &word, 8);
  }
  for (; i < n; i++) to[i] = extism_input_load_u8(i);
}

static inline void extism_store(ExtismPointer to, const uint8_t *from, uint64_t n) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    __builtin_memcpy(&word, from + i, 8);
    extism_store_u64(to + i, word);
  }
  for (; i < n; i++) extism_store_u8(to + i, from[i]);
}

/* A host block holding these bytes (0 if the host refused the allocation). */
static inline ExtismPointer extism_alloc_bytes(const void *bytes, uint64_t n) {
  ExtismPointer p = extism_alloc(n);
  if (p != 0) extism_store(p, (const uint8_t *)bytes, n);
  return p;
}

static inline uint64_t extism_strlen(const char *s) {
  uint64_t n = 0;
  while (s[n]) n++;
  return n;
}

static inline ExtismPointer extism_alloc_string(const char *s) {
  return extism_alloc_bytes(s, extism_strlen(s));
}
