/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * Devargs of net_vhost ports. The keys and their meaning are those of the
 * DPDK vhost PMD, so existing command lines keep working; unlike it, every
 * value is checked and a bad one fails the probe instead of being ignored.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_kvargs.h>
#include <rte_string_fns.h>

#include "eth_iovhost.h"

#define IOVH_ARG_IFACE		"iface"
#define IOVH_ARG_QUEUES		"queues"
#define IOVH_ARG_IOTLB		"iotlb-entries"
/** Bounds of iotlb-entries: a ring's worth, and 16 Mi 4 KiB pages. */
#define IOVH_IOTLB_MIN		64
#define IOVH_IOTLB_MAX		(16u << 20)

/** The 0/1 devargs and the device flag each one sets. */
static const struct {
	const char *key;
	uint64_t flag;
} iovh_bool_args[] = {
	{ "client",		IOVH_F_CLIENT },
	{ "iommu-support",	IOVH_F_IOMMU },
	{ "postcopy-support",	IOVH_F_POSTCOPY },
	{ "tso",		IOVH_F_TSO },
	{ "linear-buffer",	IOVH_F_LINEARBUF },
	{ "ext-buffer",		IOVH_F_EXTBUF },
	{ "legacy-ol-flags",	IOVH_F_LEGACY_OL },
};

static int
iovh_parse_uint(const char *s, unsigned long min, unsigned long max,
		unsigned long *out)
{
	unsigned long v;
	char *end;

	/* strtoul would accept " 1", "+1", "-1" and "0x1"; we do not. */
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
iovh_bool_arg_index(const char *key)
{
	unsigned int i;

	for (i = 0; i < RTE_DIM(iovh_bool_args); i++)
		if (strcmp(key, iovh_bool_args[i].key) == 0)
			return i;
	return -1;
}

static bool
iovh_known_key(const char *key)
{
	return strcmp(key, IOVH_ARG_IFACE) == 0 ||
		strcmp(key, IOVH_ARG_QUEUES) == 0 ||
		strcmp(key, IOVH_ARG_IOTLB) == 0 ||
		iovh_bool_arg_index(key) >= 0;
}

int
iovh_pmd_args_parse(const char *name, const char *params,
		struct iovh_pmd_args *args)
{
	const struct rte_kvargs_pair *p;
	struct rte_kvargs *kvlist;
	unsigned long v;
	unsigned int i, j;
	bool have_iface = false;
	int b, ret = -EINVAL;

	memset(args, 0, sizeof(*args));
	args->queues = 1;

	if (params == NULL || params[0] == '\0') {
		IOVH_PMD_LOG(ERR, "%s: devarg '%s' is required", name,
				IOVH_ARG_IFACE);
		return -EINVAL;
	}
	/*
	 * Parse without a valid-keys list: rte_kvargs would then reject an
	 * unknown key without saying which one, and we want to name it.
	 */
	kvlist = rte_kvargs_parse(params, NULL);
	if (kvlist == NULL) {
		IOVH_PMD_LOG(ERR, "%s: cannot parse devargs '%s'", name,
				params);
		return -EINVAL;
	}

	for (i = 0; i < kvlist->count; i++) {
		p = &kvlist->pairs[i];
		if (!iovh_known_key(p->key)) {
			IOVH_PMD_LOG(ERR, "%s: unknown devarg '%s%s%s' (valid: "
				"iface, queues, client, iommu-support, "
				"iotlb-entries, postcopy-support, tso, "
				"linear-buffer, ext-buffer, legacy-ol-flags)",
				name, p->key,
				p->value != NULL ? "=" : "",
				p->value != NULL ? p->value : "");
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(kvlist->pairs[j].key, p->key) == 0) {
				IOVH_PMD_LOG(ERR, "%s: devarg '%s' given twice",
						name, p->key);
				goto out;
			}
		}
		if (p->value == NULL || p->value[0] == '\0') {
			IOVH_PMD_LOG(ERR, "%s: devarg '%s' needs a value",
					name, p->key);
			goto out;
		}

		if (strcmp(p->key, IOVH_ARG_IFACE) == 0) {
			if (strlcpy(args->iface, p->value, sizeof(args->iface))
					>= sizeof(args->iface)) {
				IOVH_PMD_LOG(ERR, "%s: invalid %s='%s': longer "
					"than %zu bytes, too long for a unix "
					"socket", name, p->key, p->value,
					sizeof(args->iface) - 1);
				goto out;
			}
			have_iface = true;
		} else if (strcmp(p->key, IOVH_ARG_QUEUES) == 0) {
			if (iovh_parse_uint(p->value, 1, IOVH_MAX_QUEUE_PAIRS,
					&v) != 0) {
				IOVH_PMD_LOG(ERR, "%s: invalid %s='%s': must "
					"be an integer from 1 to %u", name,
					p->key, p->value,
					IOVH_MAX_QUEUE_PAIRS);
				goto out;
			}
			args->queues = v;
		} else if (strcmp(p->key, IOVH_ARG_IOTLB) == 0) {
			if (iovh_parse_uint(p->value, IOVH_IOTLB_MIN,
					IOVH_IOTLB_MAX, &v) != 0) {
				IOVH_PMD_LOG(ERR, "%s: invalid %s='%s': must "
					"be an integer from %u to %u", name,
					p->key, p->value, IOVH_IOTLB_MIN,
					IOVH_IOTLB_MAX);
				goto out;
			}
			args->iotlb_entries = v;
		} else {
			b = iovh_bool_arg_index(p->key);
			if (iovh_parse_uint(p->value, 0, 1, &v) != 0) {
				IOVH_PMD_LOG(ERR, "%s: invalid %s='%s': must "
					"be 0 or 1", name, p->key, p->value);
				goto out;
			}
			if (v)
				args->flags |= iovh_bool_args[b].flag;
		}
	}

	if (!have_iface) {
		IOVH_PMD_LOG(ERR, "%s: devarg '%s' is required", name,
				IOVH_ARG_IFACE);
		goto out;
	}
	ret = 0;
out:
	rte_kvargs_free(kvlist);
	return ret;
}
