#include "config.h"
#include "http/tlshello.h"

#include <string.h>

#include "http/hostname.h"

#include "base/bytes.h"

#define CONTENT_TYPE_HANDSHAKE 22
#define HANDSHAKE_CLIENT_HELLO 1
#define HANDSHAKE_HEADER 4 /* msg_type, uint24 length */
#define RANDOM_SIZE 32
#define MAX_SESSION_ID 32
#define COMPRESSION_NULL 0
#define NAME_TYPE_HOST_NAME 0

static enum dj_tlshello_result fail(struct dj_tlshello *hello, enum dj_tlshello_result result,
                                    const char *problem)
{
    hello->result = result;
    hello->problem = problem;
    return result;
}

/* A record header byte that is wrong means "this is not TLS" in the first record, and "a
 * broken or interleaved record" after it. */
static enum dj_tlshello_result bad_record(struct dj_tlshello *hello, size_t record_start,
                                          const char *first, const char *later)
{
    if (record_start == 0)
        return fail(hello, DJ_TLSHELLO_NOT_TLS, first);
    return fail(hello, DJ_TLSHELLO_MALFORMED, later);
}

/* Walks the record headers from the start of IN until the records hold the whole ClientHello
 * message, checking each header as soon as its bytes are there (so junk is refused at once,
 * not after a timeout). On OK, *HELLO_END is where the last of those records ends. */
static enum dj_tlshello_result frame_records(const uint8_t *in, size_t len,
                                             struct dj_tlshello *hello, size_t *hello_end)
{
    size_t pos = 0;
    size_t message_have = 0; /* handshake bytes in the complete records before pos */
    size_t message_len = 0;  /* header included; 0 until the 4 header bytes were seen */
    uint8_t header[HANDSHAKE_HEADER];
    size_t header_have = 0;

    for (;;) {
        size_t record_len;
        size_t available;
        size_t i;

        if (pos + DJ_TLSHELLO_RECORD_HEADER + 1 > DJ_TLSHELLO_MAX_INPUT)
            return fail(hello, DJ_TLSHELLO_TOO_LARGE,
                        "the ClientHello's records take more than the input limit");
        if (len - pos < 1)
            return fail(hello, DJ_TLSHELLO_NEED_MORE, NULL);
        if (in[pos] != CONTENT_TYPE_HANDSHAKE)
            return bad_record(hello, pos, "first record is not a handshake record",
                              "a record of another type inside the ClientHello");
        if (len - pos < 2)
            return fail(hello, DJ_TLSHELLO_NEED_MORE, NULL);
        if (in[pos + 1] != 3)
            return bad_record(hello, pos, "record version is not 3.x", "record version is not 3.x");
        if (len - pos < 3)
            return fail(hello, DJ_TLSHELLO_NEED_MORE, NULL);
        if (in[pos + 2] > 4)
            return bad_record(hello, pos, "record version above 3.4", "record version above 3.4");
        if (len - pos < DJ_TLSHELLO_RECORD_HEADER)
            return fail(hello, DJ_TLSHELLO_NEED_MORE, NULL);
        record_len = dj_get16(in + pos + 3);
        if (record_len == 0)
            return fail(hello, DJ_TLSHELLO_MALFORMED, "empty handshake record");
        if (record_len > DJ_TLSHELLO_MAX_RECORD)
            return fail(hello, DJ_TLSHELLO_MALFORMED, "record longer than 2^14 bytes");
        if (pos + DJ_TLSHELLO_RECORD_HEADER + record_len > DJ_TLSHELLO_MAX_INPUT)
            return fail(hello, DJ_TLSHELLO_TOO_LARGE,
                        "the ClientHello's records take more than the input limit");
        /* The ClientHello must end with its last record (RFC 8446 5.1: a message before a
         * key change aligns with a record boundary), so nothing else shares its records. */
        if (message_len != 0 && record_len > message_len - message_have)
            return fail(hello, DJ_TLSHELLO_MALFORMED, "a record holds bytes after the ClientHello");

        available = len - pos - DJ_TLSHELLO_RECORD_HEADER;
        if (available > record_len)
            available = record_len;
        for (i = 0; i < available && header_have < HANDSHAKE_HEADER; i++) {
            header[header_have++] = in[pos + DJ_TLSHELLO_RECORD_HEADER + i];
            if (header_have == 1 && header[0] != HANDSHAKE_CLIENT_HELLO)
                return fail(hello, DJ_TLSHELLO_NOT_CLIENT_HELLO,
                            "first handshake message is not a ClientHello");
            if (header_have == HANDSHAKE_HEADER) {
                size_t body_len =
                    ((size_t)header[1] << 16) | ((size_t)header[2] << 8) | (size_t)header[3];

                if (body_len > DJ_TLSHELLO_MAX_MESSAGE - HANDSHAKE_HEADER)
                    return fail(hello, DJ_TLSHELLO_TOO_LARGE,
                                "ClientHello longer than the message limit");
                message_len = HANDSHAKE_HEADER + body_len;
                if (record_len > message_len - message_have)
                    return fail(hello, DJ_TLSHELLO_MALFORMED,
                                "a record holds bytes after the ClientHello");
            }
        }
        if (available < record_len)
            return fail(hello, DJ_TLSHELLO_NEED_MORE, NULL);

        message_have += record_len;
        pos += DJ_TLSHELLO_RECORD_HEADER + record_len;
        if (message_len != 0 && message_have == message_len) {
            *hello_end = pos;
            return DJ_TLSHELLO_OK;
        }
    }
}

/* Reads the handshake message as one byte stream although it may be spread over several
 * records: it steps over each record header as it reaches it. It only moves forward, so no
 * reassembly copy is needed. Every read is bounded by END, a message offset (the end of the
 * vector being read), and by the input. */
struct hello_reader {
    const uint8_t *in;
    size_t in_len;      /* end of the ClientHello's records */
    size_t in_pos;      /* input offset of the next message byte */
    size_t record_left; /* message bytes left in the record at in_pos */
    size_t pos;         /* message offset of the next byte */
};

static bool enter_record(struct hello_reader *r)
{
    if (r->record_left > 0)
        return true;
    if (r->in_len - r->in_pos < DJ_TLSHELLO_RECORD_HEADER + 1)
        return false;
    r->record_left = dj_get16(r->in + r->in_pos + 3);
    r->in_pos += DJ_TLSHELLO_RECORD_HEADER;
    return r->record_left > 0 && r->record_left <= r->in_len - r->in_pos;
}

static bool read_u8(struct hello_reader *r, size_t end, uint8_t *out)
{
    if (r->pos >= end || !enter_record(r))
        return false;
    *out = r->in[r->in_pos];
    r->in_pos++;
    r->record_left--;
    r->pos++;
    return true;
}

static bool read_u16(struct hello_reader *r, size_t end, uint16_t *out)
{
    uint8_t hi, lo;

    if (!read_u8(r, end, &hi) || !read_u8(r, end, &lo))
        return false;
    *out = (uint16_t)((hi << 8) | lo);
    return true;
}

static bool skip(struct hello_reader *r, size_t end, size_t n)
{
    if (r->pos > end || n > end - r->pos)
        return false;
    while (n > 0) {
        size_t step;

        if (!enter_record(r))
            return false;
        step = n < r->record_left ? n : r->record_left;
        r->in_pos += step;
        r->record_left -= step;
        r->pos += step;
        n -= step;
    }
    return true;
}

/* Reads a vector's length (WIDTH 1 or 2 bytes) and sets *VECTOR_END to the message offset
 * where its contents end; false when the length or the contents overrun END. */
static bool open_vector(struct hello_reader *r, size_t end, int width, size_t *vector_end)
{
    size_t n;

    if (width == 1) {
        uint8_t v;

        if (!read_u8(r, end, &v))
            return false;
        n = v;
    } else {
        uint16_t v;

        if (!read_u16(r, end, &v))
            return false;
        n = v;
    }
    if (n > end - r->pos)
        return false;
    *vector_end = r->pos + n;
    return true;
}

/* NULL when NAME (LEN bytes) is a plausible DNS name in ASCII (lib/http/hostname.h), else
 * what is wrong. */
static const char *check_host_name(const char *name, size_t len)
{
    unsigned char bad = 0;

    switch (dj_hostname_check(name, len, &bad)) {
    case DJ_HOSTNAME_OK:
        return NULL;
    case DJ_HOSTNAME_EMPTY:
        return "empty host_name";
    case DJ_HOSTNAME_TOO_LONG:
        return "host_name longer than 253 bytes";
    case DJ_HOSTNAME_EMPTY_LABEL:
        return "empty label in host_name";
    case DJ_HOSTNAME_LABEL_TOO_LONG:
        return "label longer than 63 bytes in host_name";
    case DJ_HOSTNAME_BAD_CHAR:
        break;
    }
    if (bad == 0)
        return "NUL byte in host_name";
    if (bad >= 0x80)
        return "non-ASCII byte in host_name";
    return "character not allowed in host_name";
}

/* The server_name extension (RFC 6066 3) ending at EXT_END. Returns false when its structure
 * is broken (MALFORMED); a list without one usable host_name sets *SNI_PROBLEM instead. */
static bool read_server_name(struct hello_reader *r, size_t ext_end, struct dj_tlshello *hello,
                             const char **sni_problem)
{
    size_t list_end;
    unsigned host_names = 0;

    if (r->pos == ext_end) {
        *sni_problem = "empty server_name extension";
        return true;
    }
    if (!open_vector(r, ext_end, 2, &list_end) || list_end != ext_end)
        return false;
    if (r->pos == list_end) {
        *sni_problem = "empty server_name list";
        return true;
    }
    while (r->pos < list_end) {
        uint8_t name_type;
        size_t name_end;
        size_t name_len;
        size_t i;

        if (!read_u8(r, list_end, &name_type) || !open_vector(r, list_end, 2, &name_end))
            return false;
        name_len = name_end - r->pos;
        if (name_type != NAME_TYPE_HOST_NAME) {
            if (!skip(r, name_end, name_len))
                return false;
            continue;
        }
        if (++host_names > 1) {
            *sni_problem = "more than one host_name";
            if (!skip(r, name_end, name_len))
                return false;
            continue;
        }
        if (name_len > DJ_TLSHELLO_NAME_SIZE - 2) {
            *sni_problem = "host_name longer than 253 bytes";
            if (!skip(r, name_end, name_len))
                return false;
            continue;
        }
        for (i = 0; i < name_len; i++) {
            uint8_t c;

            if (!read_u8(r, name_end, &c))
                return false;
            hello->server_name[i] = (char)c;
        }
        hello->server_name[name_len] = '\0';
        hello->server_name_len = name_len;
        if (*sni_problem == NULL)
            *sni_problem = check_host_name(hello->server_name, name_len);
    }
    if (host_names == 0 && *sni_problem == NULL)
        *sni_problem = "no host_name in the server_name list";
    return true;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): checked for framing only. */
static bool read_alpn(struct hello_reader *r, size_t ext_end)
{
    size_t list_end;

    if (!open_vector(r, ext_end, 2, &list_end) || list_end != ext_end || r->pos == list_end)
        return false;
    while (r->pos < list_end) {
        size_t name_end;

        if (!open_vector(r, list_end, 1, &name_end) || name_end == r->pos ||
            !skip(r, name_end, name_end - r->pos))
            return false;
    }
    return true;
}

static enum dj_tlshello_result read_extensions(struct hello_reader *r, size_t end,
                                               struct dj_tlshello *hello)
{
    uint64_t seen[65536 / 64];
    size_t block_end;
    bool have_server_name = false;
    bool after_psk = false;
    const char *sni_problem = NULL;

    if (!open_vector(r, end, 2, &block_end))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "extensions length overruns the ClientHello");
    if (block_end != end)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "bytes after the extensions block");

    memset(seen, 0, sizeof(seen));
    while (r->pos < block_end) {
        uint16_t type;
        size_t ext_end;

        if (!read_u16(r, block_end, &type))
            return fail(hello, DJ_TLSHELLO_MALFORMED, "truncated extension header");
        if (!open_vector(r, block_end, 2, &ext_end))
            return fail(hello, DJ_TLSHELLO_MALFORMED, "extension overruns the extensions block");
        if (seen[type / 64] & (UINT64_C(1) << (type % 64)))
            return fail(hello, DJ_TLSHELLO_MALFORMED, "duplicate extension");
        seen[type / 64] |= UINT64_C(1) << (type % 64);
        /* RFC 8446 4.2.11: the binders cover everything before them. */
        if (after_psk)
            return fail(hello, DJ_TLSHELLO_MALFORMED, "pre_shared_key is not the last extension");

        switch (type) {
        case DJ_TLSHELLO_EXT_SERVER_NAME:
            have_server_name = true;
            if (!read_server_name(r, ext_end, hello, &sni_problem))
                return fail(hello, DJ_TLSHELLO_MALFORMED, "malformed server_name extension");
            break;
        case DJ_TLSHELLO_EXT_ALPN:
            hello->has_alpn = true;
            if (!read_alpn(r, ext_end))
                return fail(hello, DJ_TLSHELLO_MALFORMED, "malformed ALPN extension");
            break;
        case DJ_TLSHELLO_EXT_ECH:
            hello->has_ech = true;
            break;
        case DJ_TLSHELLO_EXT_PRE_SHARED_KEY:
            after_psk = true;
            break;
        default:
            break;
        }
        if (r->pos != ext_end && !skip(r, ext_end, ext_end - r->pos))
            return fail(hello, DJ_TLSHELLO_MALFORMED, "extension overruns the extensions block");
    }

    if (sni_problem != NULL)
        return fail(hello, DJ_TLSHELLO_BAD_SNI, sni_problem);
    if (!have_server_name)
        return fail(hello, DJ_TLSHELLO_NO_SNI, "no server_name extension");
    return fail(hello, DJ_TLSHELLO_OK, NULL);
}

/* The ClientHello body (RFC 8446 4.1.2; RFC 5246 7.4.1.2 for the older fields). */
static enum dj_tlshello_result read_client_hello(const uint8_t *in, size_t hello_end,
                                                 struct dj_tlshello *hello)
{
    struct hello_reader r = {.in = in, .in_len = hello_end};
    uint8_t msg_type, len_hi;
    uint16_t len_lo;
    size_t end;
    size_t vector_end;
    bool null_compression = false;

    if (!read_u8(&r, HANDSHAKE_HEADER, &msg_type) || !read_u8(&r, HANDSHAKE_HEADER, &len_hi) ||
        !read_u16(&r, HANDSHAKE_HEADER, &len_lo))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "truncated handshake header");
    end = HANDSHAKE_HEADER + (((size_t)len_hi << 16) | len_lo);

    if (!read_u16(&r, end, &hello->legacy_version))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "ClientHello too short for its version");
    if ((hello->legacy_version >> 8) != 3)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "ClientHello version is not 3.x");
    if (!skip(&r, end, RANDOM_SIZE))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "ClientHello too short for its random");

    if (!open_vector(&r, end, 1, &vector_end))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "session_id overruns the ClientHello");
    if (vector_end - r.pos > MAX_SESSION_ID)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "session_id longer than 32 bytes");
    if (!skip(&r, vector_end, vector_end - r.pos))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "session_id overruns the ClientHello");

    if (!open_vector(&r, end, 2, &vector_end))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "cipher_suites overrun the ClientHello");
    if (vector_end - r.pos < 2 || (vector_end - r.pos) % 2 != 0)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "cipher_suites length is odd or zero");
    if (!skip(&r, vector_end, vector_end - r.pos))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "cipher_suites overrun the ClientHello");

    if (!open_vector(&r, end, 1, &vector_end))
        return fail(hello, DJ_TLSHELLO_MALFORMED, "compression_methods overrun the ClientHello");
    if (vector_end == r.pos)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "no compression_methods");
    while (r.pos < vector_end) {
        uint8_t method;

        if (!read_u8(&r, vector_end, &method))
            return fail(hello, DJ_TLSHELLO_MALFORMED, "compression_methods overrun");
        if (method == COMPRESSION_NULL)
            null_compression = true;
    }
    if (!null_compression)
        return fail(hello, DJ_TLSHELLO_MALFORMED, "compression_methods without null");

    /* Before TLS 1.3 the extensions block is optional (RFC 5246 7.4.1.2). */
    if (r.pos == end)
        return fail(hello, DJ_TLSHELLO_NO_SNI, "no extensions");
    return read_extensions(&r, end, hello);
}

enum dj_tlshello_result dj_tlshello_parse(const uint8_t *in, size_t len, struct dj_tlshello *hello)
{
    size_t hello_end = 0;
    enum dj_tlshello_result result;

    memset(hello, 0, sizeof(*hello));
    result = frame_records(in, len, hello, &hello_end);
    if (result != DJ_TLSHELLO_OK)
        return result;
    result = read_client_hello(in, hello_end, hello);
    if (result != DJ_TLSHELLO_OK) {
        hello->server_name[0] = '\0';
        hello->server_name_len = 0;
    }
    if (result == DJ_TLSHELLO_OK || result == DJ_TLSHELLO_NO_SNI || result == DJ_TLSHELLO_BAD_SNI) {
        hello->hello_len = hello_end;
    } else {
        /* Half-read fields of a broken hello would only mislead a log reader. */
        hello->legacy_version = 0;
        hello->has_ech = false;
        hello->has_alpn = false;
    }
    return result;
}

const char *dj_tlshello_result_text(enum dj_tlshello_result result)
{
    switch (result) {
    case DJ_TLSHELLO_OK:
        return "ok";
    case DJ_TLSHELLO_NEED_MORE:
        return "need_more";
    case DJ_TLSHELLO_NOT_TLS:
        return "not_tls";
    case DJ_TLSHELLO_MALFORMED:
        return "malformed";
    case DJ_TLSHELLO_NOT_CLIENT_HELLO:
        return "not_client_hello";
    case DJ_TLSHELLO_NO_SNI:
        return "no_sni";
    case DJ_TLSHELLO_BAD_SNI:
        return "bad_sni";
    case DJ_TLSHELLO_TOO_LARGE:
        return "too_large";
    }
    return "unknown";
}
