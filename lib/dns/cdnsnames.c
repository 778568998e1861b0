/* cdnsnames.c: the container-DNS name list: parsing and matching (see cdnsnames.h). */
#include "config.h"

#include "dns/cdnsnames.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/fwdzone.h"
#include "jail/oci.h"

#define MAX_ENTRY (2 + DJ_FWDZONE_MAX_NAME_TEXT + 1) /* "*." NAME "." */

static int add_entry(struct dj_cdnsnames *list, const char *entry, size_t len, dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    char copy[MAX_ENTRY + 1];
    char text[DJ_FWDZONE_MAX_NAME_TEXT + 1];
    struct dj_cdnsname n;
    struct dj_cdnsname *grown;
    const char *name = copy;
    const char *problem;

    memset(&n, 0, sizeof(n));
    if (len > MAX_ENTRY) {
        memcpy(copy, entry, 40);
        copy[40] = '\0';
        return dj_error_make(err, 0, "\"%s...\": longer than a name can be",
                             oci_printable(shown, sizeof(shown), copy));
    }
    memcpy(copy, entry, len);
    copy[len] = '\0';
    if (strcmp(copy, "*") == 0) {
        if (list->single_label)
            return dj_error_make(err, 0, "\"*\" is listed twice");
        list->single_label = true;
        return 0;
    }
    if (len >= 2 && copy[0] == '*' && copy[1] == '.') {
        n.suffix = true;
        name += 2;
        len -= 2;
    }
    if (len > 1 && name[len - 1] == '.')
        len--;
    else if (len == 1 && name[0] == '.')
        len = 0;
    problem = dj_fwdzone_name_forms(name, len, text, n.wire, &n.wire_len);
    if (problem != NULL)
        return dj_error_make(err, 0, "\"%s\": %s (entries are *, NAME or *.SUFFIX)",
                             oci_printable(shown, sizeof(shown), copy),
                             len == 0 ? "no name" : problem);
    for (size_t i = 0; i < list->n; i++)
        if (list->names[i].suffix == n.suffix && strcmp(list->names[i].text, text) == 0)
            return dj_error_make(err, 0, "\"%s%s\" is listed twice", n.suffix ? "*." : "", text);
    if (list->n == DJ_CDNSNAMES_MAX)
        return dj_error_make(err, 0, "more than %d container-DNS names", DJ_CDNSNAMES_MAX);
    n.text = strdup(text);
    grown = n.text != NULL ? realloc(list->names, (list->n + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(n.text);
        return dj_error_make(err, ENOMEM, "container-DNS names");
    }
    list->names = grown;
    list->names[list->n++] = n;
    return 0;
}

int dj_cdnsnames_parse(struct dj_cdnsnames *list, const char *text, dj_error_t *err)
{
    struct dj_cdnsnames before = *list;
    const char *p = text;

    for (;;) {
        size_t len = dj_fwdzone_next_entry(&p);

        if (len == 0)
            break;
        if (add_entry(list, p, len, err) < 0) {
            /* Leave *LIST as it was: drop what this call added. */
            while (list->n > before.n)
                free(list->names[--list->n].text);
            if (list->n == 0) {
                free(list->names);
                list->names = NULL;
            }
            list->single_label = before.single_label;
            return -1;
        }
        p += len;
    }
    return 0;
}

void dj_cdnsnames_free(struct dj_cdnsnames *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->names[i].text);
    free(list->names);
    memset(list, 0, sizeof(*list));
}

/* One label and the root: "postgres." but not "." or "a.b.". */
static bool single_label(const uint8_t *q, size_t q_len)
{
    return q_len >= 3 && q[0] > 0 && (size_t)q[0] + 2 == q_len && q[q_len - 1] == 0;
}

bool dj_cdnsnames_match(const struct dj_cdnsnames *list, const uint8_t *qname, size_t qname_len)
{
    if (list == NULL || qname_len == 0)
        return false;
    if (list->single_label && single_label(qname, qname_len))
        return true;
    for (size_t i = 0; i < list->n; i++) {
        const struct dj_cdnsname *n = &list->names[i];

        /* An exact NAME wants the same length, a suffix strictly more (a name below it). */
        if ((n->suffix ? qname_len > n->wire_len : qname_len == n->wire_len) &&
            dj_fwdzone_wire_covered(qname, qname_len, n->wire, n->wire_len))
            return true;
    }
    return false;
}

char *dj_cdnsnames_format(const struct dj_cdnsnames *list, char *buf, size_t size)
{
    size_t used = 0;

    if (size == 0)
        return NULL;
    buf[0] = '\0';
    if (list->single_label) {
        if (size < 2)
            return NULL;
        memcpy(buf, "*", 2);
        used = 1;
    }
    for (size_t i = 0; i < list->n; i++) {
        int w = snprintf(buf + used, size - used, "%s%s%s", used > 0 ? "," : "",
                         list->names[i].suffix ? "*." : "", list->names[i].text);

        if (w < 0 || (size_t)w >= size - used)
            return NULL;
        used += (size_t)w;
    }
    return buf;
}
