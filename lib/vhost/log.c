/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <rte_log.h>

#include "vhost.h"

/*
 * Two log types, so a user can raise the connection story
 * (--log-level=lib.iovhost.config:debug) without the per-packet noise.
 */
RTE_LOG_REGISTER(iovh_logtype_config, lib.iovhost.config, INFO);
RTE_LOG_REGISTER(iovh_logtype_data, lib.iovhost.data, WARNING);
