/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "mbuf_alloc.h"
#include "net_hdr.h"
#include "vhost.h"

/* Largest buffer an mbuf's 16-bit buf_len can describe, cache aligned. */
#define EXTBUF_SIZE RTE_ALIGN_FLOOR(UINT16_MAX, RTE_CACHE_LINE_SIZE)
#define EXTBUF_POOL_NAME "iovh_extbuf"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Written once under pool_lock before any device that uses it can run
 * (devices are created after it); poll threads only read it, and their
 * first read is ordered after the device's publication (vq->ready).
 */
static struct rte_mempool *extbuf_pool;

int
iovh_extbuf_pool_init(int socket_id)
{
	struct rte_mempool *mp;
	int ret = 0;

	pthread_mutex_lock(&pool_lock);
	if (extbuf_pool != NULL)
		goto out;
	/* Another copy of the library in this process may have made it. */
	mp = rte_mempool_lookup(EXTBUF_POOL_NAME);
	if (mp == NULL)
		mp = rte_mempool_create(EXTBUF_POOL_NAME,
				IOVH_EXTBUF_POOL_SIZE, EXTBUF_SIZE, 32, 0,
				NULL, NULL, NULL, NULL, socket_id, 0);
	if (mp == NULL) {
		IOVH_LOG_CONFIG(WARNING, "no external-buffer pool (%u x %u B): "
			"large packets will use rte_malloc",
			IOVH_EXTBUF_POOL_SIZE, EXTBUF_SIZE);
		ret = -1;
		goto out;
	}
	extbuf_pool = mp;
out:
	pthread_mutex_unlock(&pool_lock);
	return ret;
}

/*
 * Last reference to the buffer gone (any thread): back where it came from.
 * opaque is the pool, or NULL for an rte_malloc'ed one.
 */
static void
extbuf_free(void *addr, void *opaque)
{
	if (opaque != NULL)
		rte_mempool_put(opaque, addr);
	else
		rte_free(addr);
}

int
iovh_mbuf_extbuf_grow(struct rte_mbuf *m, uint32_t len)
{
	struct rte_mbuf_ext_shared_info *shinfo;
	struct rte_mempool *mp = extbuf_pool;
	uint32_t total = RTE_PKTMBUF_HEADROOM + len + sizeof(*shinfo) +
		sizeof(uintptr_t);
	const void *old = rte_pktmbuf_mtod(m, const void *);
	uint16_t data_len = m->data_len, buf_len;
	void *buf = NULL;

	total = RTE_ALIGN_CEIL(total, sizeof(uintptr_t));
	if (unlikely(total > UINT16_MAX || m->nb_segs != 1 ||
			RTE_MBUF_HAS_EXTBUF(m) || len < data_len))
		return -1;
	if (likely(mp != NULL && total <= EXTBUF_SIZE) &&
			rte_mempool_get(mp, &buf) == 0) {
		buf_len = EXTBUF_SIZE;
	} else {
		mp = NULL;
		buf_len = total;
		buf = rte_malloc(NULL, buf_len, RTE_CACHE_LINE_SIZE);
		if (buf == NULL)
			return -1;
	}
	shinfo = rte_pktmbuf_ext_shinfo_init_helper(buf, &buf_len,
			extbuf_free, mp);
	if (unlikely(shinfo == NULL)) {
		extbuf_free(buf, mp);
		return -1;
	}
	rte_pktmbuf_attach_extbuf(m, buf, mp != NULL ?
			rte_mempool_virt2iova(buf) : rte_malloc_virt2iova(buf),
			buf_len, shinfo);
	rte_pktmbuf_reset_headroom(m);
	/* The mbuf's own buffer is untouched by the attach: copy from it. */
	memcpy(rte_pktmbuf_mtod(m, void *), old, data_len);
	m->data_len = data_len;
	return 0;
}

int
iovh_mbuf_grow(struct rte_mbuf *m, struct rte_mbuf **seg,
		struct rte_mempool *mp, uint16_t ol, uint64_t need)
{
	struct rte_mbuf *nseg;

	if (ol & (IOVH_OL_LINEARBUF | IOVH_OL_EXTBUF)) {
		if ((ol & IOVH_OL_EXTBUF) && need != 0 && need <= UINT16_MAX &&
				iovh_mbuf_extbuf_grow(m, need) == 0)
			return 0;
		if (ol & IOVH_OL_LINEARBUF)
			return IOVH_GROW_TOOBIG;
		/* ext-buffer alone: a chain when no buffer fits. */
	}
	nseg = rte_pktmbuf_alloc(mp);
	if (unlikely(nseg == NULL))
		return IOVH_GROW_NOMEM;
	(*seg)->next = nseg;
	*seg = nseg;
	m->nb_segs++;
	return 0;
}
