/* tlshello.h: the server name (SNI) from the first bytes of a TLS connection, without
 * decrypting anything and without a TLS library.
 *
 * Pure code over the caller's buffer (no I/O, no allocation, no global state), written for a
 * non-blocking event loop: the caller keeps appending what it receives to one buffer and
 * calls dj_tlshello_parse() on the whole buffer each time, until the answer is something
 * other than DJ_TLSHELLO_NEED_MORE. The parser keeps no state between calls; a call costs
 * one walk over the record headers plus, once the ClientHello is complete, one pass over it.
 * Owns: TLS record framing up to the end of the ClientHello, handshake reassembly and the
 * strict ClientHello parse (RFC 8446 4.1.2, RFC 5246 7.4.1.2, RFC 6066 3).
 *
 * What it accepts and refuses, and why, is in docs/PARSERS.md. In short:
 *  - The input must start with handshake records (type 22) of version 3.0-3.4; the
 *    ClientHello may be fragmented over any number of them (each 1..2^14 bytes) and must end
 *    exactly at a record boundary. A record of another type before it is complete refuses it.
 *  - The records carrying the ClientHello may take at most DJ_TLSHELLO_MAX_INPUT bytes, so a
 *    buffer of that size is always enough: NEED_MORE is only answered while fewer bytes have
 *    arrived.
 *  - Every length is checked; duplicate extensions, a pre_shared_key that is not last, a
 *    server_name list with more than one host_name are refused.
 *  - The host name is checked, not changed: ASCII letters, digits, '-', '_' and '.', labels
 *    of 1..63, at most 253 bytes (254 with one trailing dot). Case is kept. */
#ifndef DNSJAIL_TLSHELLO_H
#define DNSJAIL_TLSHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DJ_TLSHELLO_RECORD_HEADER 5
#define DJ_TLSHELLO_MAX_RECORD 16384 /* 2^14: the largest plaintext record (RFC 8446 5.1) */
/* The largest ClientHello handshake message accepted, its 4-byte header included. Browsers
 * send about 2 KiB (post-quantum key shares included); 16 KiB leaves room for many more. */
#define DJ_TLSHELLO_MAX_MESSAGE 16384
/* The most bytes the records carrying the ClientHello may take: the message plus the headers
 * of up to 204 records. The caller's buffer needs no more than this. */
#define DJ_TLSHELLO_MAX_INPUT (DJ_TLSHELLO_MAX_MESSAGE + 1024)
#define DJ_TLSHELLO_MAX_NAME 253  /* a DNS name's longest text form, without trailing dot */
#define DJ_TLSHELLO_NAME_SIZE 256 /* holds the name, one trailing dot and the NUL */

#define DJ_TLSHELLO_EXT_SERVER_NAME 0x0000
#define DJ_TLSHELLO_EXT_ALPN 0x0010
#define DJ_TLSHELLO_EXT_PRE_SHARED_KEY 0x0029
#define DJ_TLSHELLO_EXT_ECH 0xfe0d /* encrypted_client_hello */

enum dj_tlshello_result {
    DJ_TLSHELLO_OK = 0,           /* complete and valid, with one host_name */
    DJ_TLSHELLO_NEED_MORE,        /* valid so far; call again with more bytes */
    DJ_TLSHELLO_NOT_TLS,          /* the first record is not a TLS handshake record */
    DJ_TLSHELLO_MALFORMED,        /* lengths or structure wrong; see problem */
    DJ_TLSHELLO_NOT_CLIENT_HELLO, /* a handshake message other than ClientHello */
    DJ_TLSHELLO_NO_SNI,           /* valid, but no server_name extension */
    DJ_TLSHELLO_BAD_SNI,          /* a server_name extension without one usable host_name */
    DJ_TLSHELLO_TOO_LARGE,        /* over DJ_TLSHELLO_MAX_MESSAGE or DJ_TLSHELLO_MAX_INPUT */
};

struct dj_tlshello {
    enum dj_tlshello_result result;
    const char *problem; /* what exactly is wrong, for logs (static text); NULL when OK */

    /* The rest is set with OK, NO_SNI and BAD_SNI (a complete, well-formed hello), and is
     * zero with every other result. */

    /* Bytes of the input taken by the records that carry the ClientHello; the proxy replays
     * these (and whatever followed) upstream. */
    size_t hello_len;
    uint16_t legacy_version; /* client_version from the hello body, e.g. 0x0303 */
    bool has_ech;            /* encrypted_client_hello: the real name is hidden from us */
    bool has_alpn;           /* application_layer_protocol_negotiation */

    /* The host_name as sent, NUL-terminated; "" unless OK. */
    char server_name[DJ_TLSHELLO_NAME_SIZE];
    size_t server_name_len;
};

/* Reads what has arrived of a TLS connection, IN (LEN bytes), into *HELLO and returns (and
 * stores in hello->result) the outcome. Never reads outside IN; bytes after the ClientHello's
 * records are not looked at. */
enum dj_tlshello_result dj_tlshello_parse(const uint8_t *in, size_t len, struct dj_tlshello *hello);

/* A short constant name for a result, for logs: "ok", "need_more", "not_tls", ... */
const char *dj_tlshello_result_text(enum dj_tlshello_result result);

#endif
