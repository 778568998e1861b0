/* leak.h: the text that travels between the two halves of dnsjail-leaktest: the
 * probe's result lines (read back by `dnsjail-leaktest report`, and written from inside a
 * container, so untrusted) and the canary's records of what reached it (peer data, escaped).
 *
 * Pure code over caller-owned buffers (no I/O, no allocation, no global state), listed in
 * PARSER_SOURCES with a libFuzzer target. Owns: the token format, the probe line grammar, the
 * escaping of peer bytes in canary records and the token search over those records.
 *
 * Token: "lt" + DJ_LEAK_TOKEN_RANDOM characters of lower-case base32 + "c" + two decimal
 * digits (the channel's number). Only letters and digits, so it survives DNS labels (where
 * resolvers may change its case), SNI, HTTP Host lines and the canary's escaping unchanged.
 *
 * Probe line: "CHANNEL VERDICT [token=TOKEN] [(free text)]", fields separated by spaces.
 * CHANNEL is 1..DJ_LEAK_MAX_CHANNEL characters of [a-z0-9-]; VERDICT one of the words of
 * enum dj_leak_verdict. Lines starting with '#' and empty lines are comments. Anything else
 * is refused with a reason (the report then fails closed). */
#ifndef DNSJAIL_LEAK_H
#define DNSJAIL_LEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DJ_LEAK_TOKEN_RANDOM 12
#define DJ_LEAK_TOKEN_LEN (2 + DJ_LEAK_TOKEN_RANDOM + 3)
#define DJ_LEAK_MAX_CHANNEL 32
#define DJ_LEAK_MAX_DETAIL 200
/* The prefix of channels that test a limit the documentation states (they may leak). */
#define DJ_LEAK_LIMIT_PREFIX "limit-"

enum dj_leak_verdict {
    DJ_LEAK_BLOCKED = 0,  /* the canary never saw the token */
    DJ_LEAK_LEAKED,       /* the canary saw the token (or its answer came back) */
    DJ_LEAK_PENDING,      /* probe side: sent, only the canary can tell */
    DJ_LEAK_NOT_TESTABLE, /* the attempt could not be made here (the text says why) */
};

struct dj_leak_line {
    bool is_comment;
    char channel[DJ_LEAK_MAX_CHANNEL + 1];
    enum dj_leak_verdict verdict;
    bool has_token;
    char token[DJ_LEAK_TOKEN_LEN + 1];
    char detail[DJ_LEAK_MAX_DETAIL + 1]; /* the "(...)" text without parentheses, may be "" */
};

/* "blocked", "leaked", "pending", "not-testable". */
const char *dj_leak_verdict_text(enum dj_leak_verdict verdict);

/* Is TEXT (LEN bytes) a well-formed token? */
bool dj_leak_token_valid(const char *text, size_t len);

/* Writes the token for channel number CHANNEL (0..99) from DJ_LEAK_TOKEN_RANDOM bytes of
 * RANDOM into OUT (DJ_LEAK_TOKEN_LEN + 1 bytes, NUL-terminated). Returns false when CHANNEL
 * is out of range. */
bool dj_leak_token_make(const uint8_t *random, unsigned channel, char *out);

/* Reads one probe line (LEN bytes, no newline needed, NUL bytes refused) into *OUT. Returns
 * NULL, or what is wrong (static text). A detail longer than DJ_LEAK_MAX_DETAIL is cut. */
const char *dj_leak_parse_line(const char *line, size_t len, struct dj_leak_line *out);

/* Escapes DATA (LEN bytes) for a one-line canary record: printable ASCII other than '\' and
 * space is kept, everything else becomes \xHH. Always NUL-terminates OUT when OUT_SIZE > 0
 * and stops at a whole escape; returns the number of input bytes written out. */
size_t dj_leak_escape(const uint8_t *data, size_t len, char *out, size_t out_size);

/* Does TEXT (LEN bytes) contain TOKEN (a valid token), ignoring ASCII case? */
bool dj_leak_text_has_token(const char *text, size_t len, const char *token);

#endif
