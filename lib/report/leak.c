/* leak.c: see leak.h. */
#include "config.h"

#include "report/leak.h"

#include <string.h>

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

const char *dj_leak_verdict_text(enum dj_leak_verdict verdict)
{
    switch (verdict) {
    case DJ_LEAK_BLOCKED:
        return "blocked";
    case DJ_LEAK_LEAKED:
        return "leaked";
    case DJ_LEAK_PENDING:
        return "pending";
    case DJ_LEAK_NOT_TESTABLE:
        return "not-testable";
    }
    return "?";
}

static bool is_base32_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool dj_leak_token_valid(const char *text, size_t len)
{
    if (len != DJ_LEAK_TOKEN_LEN || text[0] != 'l' || text[1] != 't')
        return false;
    for (size_t i = 2; i < 2 + DJ_LEAK_TOKEN_RANDOM; i++)
        if (!is_base32_char(text[i]))
            return false;
    return text[2 + DJ_LEAK_TOKEN_RANDOM] == 'c' && is_digit(text[len - 2]) &&
           is_digit(text[len - 1]);
}

bool dj_leak_token_make(const uint8_t *random, unsigned channel, char *out)
{
    if (channel > 99)
        return false;
    out[0] = 'l';
    out[1] = 't';
    for (size_t i = 0; i < DJ_LEAK_TOKEN_RANDOM; i++)
        out[2 + i] = base32_alphabet[random[i] & 31];
    out[2 + DJ_LEAK_TOKEN_RANDOM] = 'c';
    out[3 + DJ_LEAK_TOKEN_RANDOM] = (char)('0' + channel / 10);
    out[4 + DJ_LEAK_TOKEN_RANDOM] = (char)('0' + channel % 10);
    out[DJ_LEAK_TOKEN_LEN] = '\0';
    return true;
}

static bool is_channel_char(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
}

/* The next space-separated field of LINE from *POS: its start and length. */
static size_t next_field(const char *line, size_t len, size_t *pos, const char **field)
{
    while (*pos < len && line[*pos] == ' ')
        (*pos)++;
    *field = line + *pos;
    size_t start = *pos;
    while (*pos < len && line[*pos] != ' ')
        (*pos)++;
    return *pos - start;
}

static bool field_is(const char *field, size_t flen, const char *word)
{
    return flen == strlen(word) && memcmp(field, word, flen) == 0;
}

const char *dj_leak_parse_line(const char *line, size_t len, struct dj_leak_line *out)
{
    memset(out, 0, sizeof(*out));
    if (memchr(line, '\0', len) != NULL)
        return "NUL byte in the line";
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    size_t pos = 0;
    while (pos < len && line[pos] == ' ')
        pos++;
    if (pos == len || line[pos] == '#') {
        out->is_comment = true;
        return NULL;
    }

    const char *field;
    size_t flen = next_field(line, len, &pos, &field);
    if (flen > DJ_LEAK_MAX_CHANNEL)
        return "channel name too long";
    for (size_t i = 0; i < flen; i++)
        if (!is_channel_char(field[i]))
            return "bad character in the channel name";
    memcpy(out->channel, field, flen);
    out->channel[flen] = '\0';

    flen = next_field(line, len, &pos, &field);
    if (field_is(field, flen, "blocked"))
        out->verdict = DJ_LEAK_BLOCKED;
    else if (field_is(field, flen, "leaked"))
        out->verdict = DJ_LEAK_LEAKED;
    else if (field_is(field, flen, "pending"))
        out->verdict = DJ_LEAK_PENDING;
    else if (field_is(field, flen, "not-testable"))
        out->verdict = DJ_LEAK_NOT_TESTABLE;
    else
        return "unknown verdict";

    size_t before = pos;
    flen = next_field(line, len, &pos, &field);
    if (flen > 6 && memcmp(field, "token=", 6) == 0) {
        if (!dj_leak_token_valid(field + 6, flen - 6))
            return "malformed token";
        memcpy(out->token, field + 6, flen - 6);
        out->token[flen - 6] = '\0';
        out->has_token = true;
    } else {
        pos = before;
    }

    while (pos < len && line[pos] == ' ')
        pos++;
    if (pos == len)
        return NULL;
    if (line[pos] != '(' || line[len - 1] != ')' || len - pos < 2)
        return "text after the fields is not in parentheses";
    size_t dlen = len - pos - 2;
    if (dlen > DJ_LEAK_MAX_DETAIL)
        dlen = DJ_LEAK_MAX_DETAIL;
    memcpy(out->detail, line + pos + 1, dlen);
    out->detail[dlen] = '\0';
    return NULL;
}

size_t dj_leak_escape(const uint8_t *data, size_t len, char *out, size_t out_size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;
    if (out_size == 0)
        return 0;
    for (i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (c > ' ' && c < 0x7f && c != '\\') {
            if (o + 1 >= out_size)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= out_size)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return i;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool dj_leak_text_has_token(const char *text, size_t len, const char *token)
{
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen > len)
        return false;
    for (size_t i = 0; i + tlen <= len; i++) {
        size_t j = 0;
        while (j < tlen && lower(text[i + j]) == token[j])
            j++;
        if (j == tlen)
            return true;
    }
    return false;
}
