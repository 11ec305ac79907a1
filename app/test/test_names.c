/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * names_autotest: feature-bit names and the list written into logs.
 */

#include <string.h>

#include "vhost.h"
#include "test.h"

static int
test_bit_names(void)
{
	unsigned int bit;

	TEST_ASSERT(strcmp(iovh_feature_name(VIRTIO_F_VERSION_1),
			"VIRTIO_F_VERSION_1") == 0, "VERSION_1");
	TEST_ASSERT(strcmp(iovh_feature_name(VIRTIO_F_IOMMU_PLATFORM),
			"VIRTIO_F_ACCESS_PLATFORM") == 0, "ACCESS_PLATFORM");
	TEST_ASSERT(strcmp(iovh_protocol_feature_name(VHU_PROTO_F_BACKEND_REQ),
			"BACKEND_REQ") == 0, "BACKEND_REQ");
	TEST_ASSERT(iovh_feature_name(4) == NULL, "bit 4 has no name");
	TEST_ASSERT(iovh_feature_name(64) == NULL, "past the last bit");
	TEST_ASSERT(iovh_protocol_feature_name(1000) == NULL, "far past");
	/* Every feature this back-end can offer has a name. */
	for (bit = 0; bit < 64; bit++) {
		if (bit == VIRTIO_NET_F_MRG_RXBUF || bit == VIRTIO_F_NOTIFY_ON_EMPTY ||
				bit == VHOST_F_LOG_ALL || bit == VIRTIO_F_ANY_LAYOUT ||
				bit == VIRTIO_RING_F_EVENT_IDX ||
				bit == VIRTIO_F_IN_ORDER || bit == VIRTIO_NET_F_MQ)
			TEST_ASSERT_NOT_NULL(iovh_feature_name(bit), "bit %u",
					bit);
	}
	for (bit = 0; bit <= VHU_PROTO_F_STATUS; bit++)
		TEST_ASSERT_NOT_NULL(iovh_protocol_feature_name(bit),
				"protocol bit %u", bit);
	return TEST_SUCCESS;
}

static int
test_list(void)
{
	char buf[128];
	size_t n;

	n = iovh_features_str(0, false, buf, sizeof(buf));
	TEST_ASSERT(n == 0 && buf[0] == '\0', "empty set: '%s'", buf);
	n = iovh_features_str((1ULL << VIRTIO_NET_F_MRG_RXBUF) |
			(1ULL << 4) | (1ULL << VIRTIO_F_VERSION_1), false,
			buf, sizeof(buf));
	/* Lowest bit first; a bit without a name by number. */
	TEST_ASSERT(strcmp(buf, "bit4 VIRTIO_NET_F_MRG_RXBUF "
			"VIRTIO_F_VERSION_1") == 0, "got '%s'", buf);
	TEST_ASSERT_EQUAL(n, strlen(buf), "length");
	n = iovh_features_str((1ULL << VHU_PROTO_F_MQ) |
			(1ULL << VHU_PROTO_F_REPLY_ACK), true, buf, sizeof(buf));
	TEST_ASSERT(strcmp(buf, "MQ REPLY_ACK") == 0, "got '%s'", buf);
	/* Cut short: ends with "...", never overruns. */
	memset(buf, 'x', sizeof(buf));
	n = iovh_features_str(UINT64_MAX, false, buf, 40);
	TEST_ASSERT_EQUAL(n, 39, "cut length");
	TEST_ASSERT(buf[39] == '\0' && strcmp(buf + 36, "...") == 0,
			"cut list '%s'", buf);
	TEST_ASSERT(buf[40] == 'x', "wrote past the buffer");
	memset(buf, 'x', sizeof(buf));
	n = iovh_features_str(UINT64_MAX, false, buf, 2);
	TEST_ASSERT(n <= 1 && buf[n] == '\0' && buf[2] == 'x', "tiny buffer");
	return TEST_SUCCESS;
}

static const struct iovh_test_case cases[] = {
	TEST_CASE(test_bit_names),
	TEST_CASE(test_list),
	TEST_CASES_END(),
};

static int
test_names(void)
{
	static const struct iovh_test_suite suite = {
		.name = "names",
		.cases = cases,
	};

	return iovh_test_run_suite(&suite);
}

REGISTER_IOVH_TEST(names_autotest, test_names);
