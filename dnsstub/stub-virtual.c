#include "config.h"

/* virtual.c: see virtual.h. The map comes from the hook (a memfd whose size is sealed, so
 * nobody can shrink it under the proxy's mapping); the rules are the same text the proxy
 * gets, so both decide on the same list. */

#include "stub-virtual.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "dns/dnsanswer.h"

static bool any_port_rule(const struct dj_allow_rule *rules, size_t n_rules)
{
    for (size_t i = 0; i < n_rules; i++)
        if (dj_vaddr_rule_wants(&rules[i]))
            return true;
    return false;
}

static int map_shared(struct stub_virtual *v, int fd, dj_error_t *err)
{
    struct stat st;
    void *map;

    v->map_size = dj_vaddr_map_size(v->pool.n_slots);
    if (fd < 0) {
        map = mmap(NULL, v->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    } else {
        if (fstat(fd, &st) < 0)
            return dj_error_make(err, errno, "--virtual-map-fd %d", fd);
        if (!S_ISREG(st.st_mode) || (size_t)st.st_size != v->map_size)
            return dj_error_make(err, 0,
                                 "--virtual-map-fd %d: %lld bytes, the pool needs exactly %zu", fd,
                                 (long long)st.st_size, v->map_size);
        map = mmap(NULL, v->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (map == MAP_FAILED)
        return dj_error_make(err, errno, "mapping the virtual name map");
    v->map = map;
    /* A fresh map is zero: every slot free. One from the hook is fresh too (a new jail). */
    return 0;
}

int stub_read_allow_rules(const struct stub_virtual_options *o, struct dj_allow_rule **rules,
                          size_t *n_rules, dj_error_t *err)
{
    cleanup_free char *from_fd = NULL;
    const char *text = o->allow_text != NULL ? o->allow_text : "";

    if (o->policy_fd >= 0) {
        if (dj_allow_read_fd(o->policy_fd, &from_fd, err) < 0)
            return -1;
        text = from_fd;
    }
    /* The hook has judged every rule already (a "*" may be the admin's own). */
    if (dj_allow_parse(text, true, rules, n_rules, err) < 0)
        return dj_error_wrap(err, "allow rules");
    return 0;
}

int stub_virtual_setup(struct stub_virtual *v, const struct stub_virtual_options *o,
                       dj_error_t *err)
{
    memset(v, 0, sizeof(*v));
    if (stub_read_allow_rules(o, &v->rules, &v->n_rules, err) < 0)
        return -1;
    if (!any_port_rule(v->rules, v->n_rules)) {
        dj_allow_free(v->rules, v->n_rules);
        memset(v, 0, sizeof(*v));
        return 0;
    }
    if (dj_vaddr_pool_init(&v->pool, o->net4 != NULL ? o->net4 : DJ_VADDR_DEFAULT_IPV4,
                           o->net6 != NULL ? o->net6 : DJ_VADDR_DEFAULT_IPV6,
                           o->max_names != 0 ? o->max_names : DJ_VADDR_DEFAULT_MAX_NAMES,
                           err) < 0 ||
        map_shared(v, o->map_fd, err) < 0)
        return -1;
    v->table = dj_vaddr_table_new(&v->pool, v->map, err);
    if (v->table == NULL)
        return -1;
    return 1;
}

bool stub_virtual_lookup(struct stub_virtual *v, const struct dj_dns_query *q,
                         const struct dj_dns_policy *base, struct dj_dns_policy *policy,
                         struct stub_virtual_answer *answer)
{
    char text[DJ_DNS_MAX_NAME_TEXT];
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len, len;

    if (v->table == NULL || q->result != DJ_DNS_PARSE_OK)
        return false;
    len = dj_dns_name_to_text(q->qname, q->qname_len, text, sizeof(text));
    /* Only plain host names: anything with escapes or odd bytes is no name a rule allows. */
    if (len == 0 || len >= DJ_VADDR_NAME_SIZE || dj_dns_name_from_text(text, wire, &wire_len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] >= 'A' && text[i] <= 'Z')
            text[i] = (char)(text[i] - 'A' + 'a');
    if (!dj_vaddr_name_wanted(v->rules, v->n_rules, text))
        return false;
    memset(answer, 0, sizeof(*answer));
    memcpy(answer->name, text, len + 1);
    *policy = *base;
    if (q->qclass == DJ_DNS_CLASS_IN &&
        (q->qtype == DJ_DNS_TYPE_A || q->qtype == DJ_DNS_TYPE_AAAA)) {
        answer->slot = dj_vaddr_table_assign(v->table, text, &answer->recycled);
        answer->answered = true;
        dj_vaddr_slot_addr4(&v->pool, answer->slot, &policy->sinkhole4);
        dj_vaddr_slot_addr6(&v->pool, answer->slot, &policy->sinkhole6);
        policy->have_sinkhole6 = true;
    }
    return true;
}
