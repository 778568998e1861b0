/* fwdzone.c: forward zone lists: parsing and matching (see fwdzone.h). */
#include "config.h"

#include "dns/fwdzone.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jail/oci.h"

#define MAX_ZONE_TEXT DJ_FWDZONE_MAX_NAME_TEXT

static bool is_separator(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '\n' || c == '\r';
}

size_t dj_fwdzone_next_entry(const char **p)
{
    size_t len;

    while (is_separator(**p))
        (*p)++;
    for (len = 0; (*p)[len] != '\0' && !is_separator((*p)[len]); len++)
        ;
    return len;
}

const char *dj_fwdzone_name_forms(const char *name, size_t len, char *text, uint8_t *wire,
                                  size_t *wire_len)
{
    size_t label_start = 0, w = 0;

    if (len == 0)
        return "the root zone would forward every name (refused)";
    if (len > MAX_ZONE_TEXT)
        return "name longer than 253 bytes";
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? name[i] : '.';

        if (c == '.') {
            size_t label_len = i - label_start;

            if (label_len == 0)
                return "empty label";
            if (label_len > DJ_DNS_MAX_LABEL)
                return "label longer than 63 bytes";
            if (name[label_start] == '-' || name[i - 1] == '-')
                return "label starts or ends with '-'";
            wire[w++] = (uint8_t)label_len;
            for (size_t k = label_start; k < i; k++) {
                char l = name[k];

                if (l >= 'A' && l <= 'Z')
                    l = (char)(l + 32);
                wire[w++] = (uint8_t)l;
            }
            label_start = i + 1;
            if (i < len)
                text[i] = '.';
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return "not a zone name (letters, digits, '-', '_' and dots)";
        text[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    text[len] = '\0';
    wire[w++] = 0;
    *wire_len = w;
    return NULL;
}

static bool upstreams_ok(const char *up)
{
    size_t count = 1;

    if (*up == '\0' || *up == '|')
        return false;
    for (const char *p = up; *p != '\0'; p++) {
        if (*p == '|') {
            if (p[1] == '\0' || p[1] == '|')
                return false;
            count++;
        }
        /* Printable ASCII only: the text goes on a command line and into logs. */
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return false;
    }
    return count <= DJ_FWDZONE_MAX_UPSTREAMS;
}

int dj_fwdzone_add(struct dj_fwdzone_list *zones, const char *name, const char *upstreams,
                   dj_error_t *err)
{
    struct dj_fwdzone z;
    struct dj_fwdzone *grown;
    char text[MAX_ZONE_TEXT + 1];
    const char *problem;

    memset(&z, 0, sizeof(z));
    if (zones->n == DJ_FWDZONE_MAX_ZONES)
        return dj_error_make(err, 0, "more than %d forward zones", DJ_FWDZONE_MAX_ZONES);
    problem = dj_fwdzone_name_forms(name, strlen(name), text, z.wire, &z.wire_len);
    if (problem != NULL)
        return dj_error_make(err, 0, "zone \"%s\": %s", name, problem);
    z.name = strdup(text);
    z.upstreams = upstreams != NULL ? strdup(upstreams) : NULL;
    grown = realloc(zones->zones, (zones->n + 1) * sizeof(*grown));
    if (z.name == NULL || (upstreams != NULL && z.upstreams == NULL) || grown == NULL) {
        free(z.name);
        free(z.upstreams);
        if (grown != NULL)
            zones->zones = grown;
        return dj_error_make(err, ENOMEM, "forward zones");
    }
    zones->zones = grown;
    zones->zones[zones->n++] = z;
    return 0;
}

void dj_fwdzone_free(struct dj_fwdzone_list *zones)
{
    if (zones == NULL)
        return;
    for (size_t i = 0; i < zones->n; i++) {
        free(zones->zones[i].name);
        free(zones->zones[i].upstreams);
    }
    free(zones->zones);
    zones->zones = NULL;
    zones->n = 0;
}

/* Parses one entry (NUL-terminated copy in ENTRY) and appends it. */
static int parse_entry(struct dj_fwdzone_list *zones, char *entry, bool allow_upstreams,
                       dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    char text[MAX_ZONE_TEXT + 1];
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len, len;
    char *upstreams = strchr(entry, '=');
    const char *problem;

    if (upstreams != NULL) {
        if (!allow_upstreams)
            return dj_error_make(err, 0, "\"%s\": a zone only, without '=UPSTREAM'",
                                 oci_printable(shown, sizeof(shown), entry));
        *upstreams++ = '\0';
        if (!upstreams_ok(upstreams))
            return dj_error_make(err, 0,
                                 "\"%s\": upstreams must be 1 to %d non-empty printable entries "
                                 "separated by '|'",
                                 oci_printable(shown, sizeof(shown), upstreams),
                                 DJ_FWDZONE_MAX_UPSTREAMS);
    }
    len = strlen(entry);
    if (len > 1 && entry[len - 1] == '.')
        entry[--len] = '\0';
    else if (len == 1 && entry[0] == '.')
        len = 0;
    problem = dj_fwdzone_name_forms(entry, len, text, wire, &wire_len);
    if (problem != NULL)
        return dj_error_make(err, 0, "zone \"%s\": %s", oci_printable(shown, sizeof(shown), entry),
                             problem);
    for (size_t i = 0; i < zones->n; i++)
        if (strcmp(zones->zones[i].name, text) == 0)
            return dj_error_make(err, 0, "zone \"%s\" is listed twice", text);
    return dj_fwdzone_add(zones, text, upstreams, err);
}

int dj_fwdzone_parse(struct dj_fwdzone_list *zones, const char *text, bool allow_upstreams,
                     dj_error_t *err)
{
    size_t first_new = zones->n;
    const char *p = text;

    for (;;) {
        char entry[DJ_FWDZONE_MAX_ENTRY + 1];
        size_t len = dj_fwdzone_next_entry(&p);

        if (len == 0)
            break;
        if (len > DJ_FWDZONE_MAX_ENTRY) {
            dj_error_make(err, 0, "entry \"%.40s...\" is longer than %d bytes", p,
                          DJ_FWDZONE_MAX_ENTRY);
            goto fail;
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        p += len;
        if (parse_entry(zones, entry, allow_upstreams, err) < 0)
            goto fail;
    }
    return 0;

fail:
    /* Leave *ZONES as it was. */
    while (zones->n > first_new) {
        zones->n--;
        free(zones->zones[zones->n].name);
        free(zones->zones[zones->n].upstreams);
    }
    if (zones->n == 0) {
        free(zones->zones);
        zones->zones = NULL;
    }
    return -1;
}

int dj_fwdzone_parse_option(struct dj_fwdzone_list *zones, const char *text, dj_error_t *err)
{
    if (strchr(text, '=') == NULL)
        return dj_error_make(err, 0, "--forward: '%s' is not ZONE=UPSTREAM[|...]", text);
    if (dj_fwdzone_parse(zones, text, true, err) < 0)
        return dj_error_wrap(err, "--forward");
    return 0;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Walks Q's labels so that a byte inside a label is never taken for a length. */
bool dj_fwdzone_wire_covered(const uint8_t *q, size_t q_len, const uint8_t *zone, size_t zone_len)
{
    size_t pos = 0;

    while (pos < q_len && q_len - pos >= zone_len) {
        if (q_len - pos == zone_len) {
            for (size_t i = 0; i < zone_len; i++)
                if (lower(q[pos + i]) != zone[i])
                    return false;
            return true;
        }
        if (q[pos] == 0)
            return false;
        pos += 1 + (size_t)q[pos];
    }
    return false;
}

ssize_t dj_fwdzone_match(const struct dj_fwdzone_list *zones, const uint8_t *qname,
                         size_t qname_len)
{
    ssize_t best = -1;

    if (zones == NULL)
        return -1;
    for (size_t i = 0; i < zones->n; i++) {
        const struct dj_fwdzone *z = &zones->zones[i];

        if (dj_fwdzone_wire_covered(qname, qname_len, z->wire, z->wire_len) &&
            (best < 0 || z->wire_len > zones->zones[best].wire_len))
            best = (ssize_t)i;
    }
    return best;
}

ssize_t dj_fwdzone_match_text(const struct dj_fwdzone_list *zones, const char *name)
{
    char text[MAX_ZONE_TEXT + 1];
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;

    if (dj_fwdzone_name_forms(name, strlen(name), text, wire, &wire_len) != NULL)
        return -1;
    return dj_fwdzone_match(zones, wire, wire_len);
}

int dj_fwdzone_split_upstreams(const char *upstreams, char *buf, size_t buf_size,
                               const char *out[DJ_FWDZONE_MAX_UPSTREAMS])
{
    size_t len = strlen(upstreams);
    int n = 0;
    char *p;

    if (len + 1 > buf_size || !upstreams_ok(upstreams))
        return -1;
    memcpy(buf, upstreams, len + 1);
    p = buf;
    for (;;) {
        char *bar = strchr(p, '|');

        out[n++] = p;
        if (bar == NULL)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    return n;
}
