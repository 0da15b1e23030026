/*
 * Reads a capture file through libpcap in batches: one call from JavaScript fills a caller-owned
 * buffer with as many records as fit, so a million-packet file costs a few hundred calls across
 * the JavaScript boundary instead of a million callbacks (the `pcap` package's offline path calls
 * back into JavaScript per packet, which cost more than libpcap's own reading).
 *
 * Record layout in the batch buffer, in host byte order, each record starting 4-byte aligned:
 *   u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen, caplen bytes of frame, 0 to 3 bytes of padding.
 *
 * JavaScript API (see capture-file-binding.ts for the typed side):
 *   open(path, filter) -> [handle, dlt]   throws Error(libpcap's message)
 *   read(handle, buffer) -> bytes used; 0 at end of file; -1 on a read error (see error())
 *   error(handle) -> string | null
 *   close(handle)
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_HEADER 16

typedef struct {
  pcap_t *pcap;
  /* A record read from libpcap that did not fit in the previous batch; libpcap keeps its bytes
   * valid until the next pcap_next_ex call, so it is copied at the start of the next batch. */
  struct pcap_pkthdr *pending_header;
  const u_char *pending_data;
  int done;
  char error[PCAP_ERRBUF_SIZE + 64];
} Reader;

static void close_reader(Reader *r) {
  if (r->pcap) {
    pcap_close(r->pcap);
    r->pcap = NULL;
  }
  r->pending_header = NULL;
  r->pending_data = NULL;
  r->done = 1;
}

static void finalize_reader(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Reader *r = (Reader *)data;
  close_reader(r);
  free(r);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static Reader *reader_arg(napi_env env, napi_value value) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return (Reader *)data;
}

static napi_value open_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_error(env, "open(path, filter): two strings expected");
  char path[4096];
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok || path_len >= sizeof path - 1)
    return throw_error(env, "open: path must be a string shorter than 4096 bytes");
  size_t filter_len = 0;
  if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &filter_len) != napi_ok)
    return throw_error(env, "open: filter must be a string");
  char *filter = malloc(filter_len + 1);
  if (!filter) return throw_error(env, "open: out of memory");
  napi_get_value_string_utf8(env, argv[1], filter, filter_len + 1, &filter_len);

  char errbuf[PCAP_ERRBUF_SIZE];
  errbuf[0] = 0;
  pcap_t *pcap = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
  if (!pcap) {
    free(filter);
    return throw_error(env, errbuf[0] ? errbuf : "libpcap could not open the file");
  }
  if (filter_len > 0) {
    struct bpf_program program;
    if (pcap_compile(pcap, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      char message[PCAP_ERRBUF_SIZE + 32];
      snprintf(message, sizeof message, "BPF filter: %s", pcap_geterr(pcap));
      pcap_close(pcap);
      free(filter);
      return throw_error(env, message);
    }
    int rc = pcap_setfilter(pcap, &program);
    pcap_freecode(&program);
    if (rc != 0) {
      char message[PCAP_ERRBUF_SIZE + 32];
      snprintf(message, sizeof message, "BPF filter: %s", pcap_geterr(pcap));
      pcap_close(pcap);
      free(filter);
      return throw_error(env, message);
    }
  }
  free(filter);

  Reader *r = calloc(1, sizeof(Reader));
  if (!r) {
    pcap_close(pcap);
    return throw_error(env, "open: out of memory");
  }
  r->pcap = pcap;
  napi_value handle, dlt, result;
  if (napi_create_external(env, r, finalize_reader, NULL, &handle) != napi_ok) {
    close_reader(r);
    free(r);
    return throw_error(env, "open: could not create the reader handle");
  }
  napi_create_int32(env, pcap_datalink(pcap), &dlt);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, handle);
  napi_set_element(env, result, 1, dlt);
  return result;
}

/* Host byte order: JavaScript reads the header through a Uint32Array, which uses it too. */
static inline void put_u32(uint8_t *p, uint32_t v) {
  memcpy(p, &v, 4);
}

/* Appends one record if it fits; returns the new write position, or `at` when it does not fit. */
static size_t append_record(uint8_t *out, size_t size, size_t at, const struct pcap_pkthdr *h, const u_char *data) {
  size_t caplen = h->caplen;
  /* A record larger than a whole batch can only come from a corrupt header that libpcap let
   * through; keep the first bytes rather than stall. */
  if (RECORD_HEADER + caplen > size) caplen = size - RECORD_HEADER;
  size_t need = (RECORD_HEADER + caplen + 3) & ~(size_t)3;
  if (at + need > size) return at;
  uint8_t *p = out + at;
  put_u32(p, (uint32_t)h->ts.tv_sec);
  put_u32(p + 4, (uint32_t)h->ts.tv_usec);
  put_u32(p + 8, (uint32_t)caplen);
  put_u32(p + 12, h->len);
  memcpy(p + RECORD_HEADER, data, caplen);
  return at + need;
}

static napi_value read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Reader *r = argc >= 2 ? reader_arg(env, argv[0]) : NULL;
  if (!r) return throw_error(env, "read(handle, buffer): not a reader handle");
  void *raw = NULL;
  size_t size = 0;
  if (napi_get_buffer_info(env, argv[1], &raw, &size) != napi_ok || size < RECORD_HEADER + 65536)
    return throw_error(env, "read: a Buffer of at least 80 KiB expected");
  uint8_t *out = (uint8_t *)raw;
  size_t at = 0;
  napi_value result;

  if (r->pending_header) {
    at = append_record(out, size, at, r->pending_header, r->pending_data);
    r->pending_header = NULL;
    r->pending_data = NULL;
  }
  while (!r->done && r->pcap) {
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc = pcap_next_ex(r->pcap, &h, &data);
    if (rc == 1) {
      size_t next = append_record(out, size, at, h, data);
      if (next == at) {
        r->pending_header = h;
        r->pending_data = data;
        break;
      }
      at = next;
    } else if (rc == PCAP_ERROR_BREAK) {
      r->done = 1;
    } else {
      snprintf(r->error, sizeof r->error, "%s", pcap_geterr(r->pcap));
      r->done = 1;
      if (at == 0) {
        napi_create_int32(env, -1, &result);
        return result;
      }
    }
  }
  napi_create_int64(env, (int64_t)at, &result);
  return result;
}

static napi_value reader_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Reader *r = argc >= 1 ? reader_arg(env, argv[0]) : NULL;
  napi_value result;
  if (!r || !r->error[0]) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_string_utf8(env, r->error, NAPI_AUTO_LENGTH, &result);
  return result;
}

static napi_value close_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Reader *r = argc >= 1 ? reader_arg(env, argv[0]) : NULL;
  if (r) close_reader(r);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"open", NULL, open_file, NULL, NULL, NULL, napi_default, NULL},
      {"read", NULL, read_batch, NULL, NULL, NULL, napi_default, NULL},
      {"error", NULL, reader_error, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_file, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
