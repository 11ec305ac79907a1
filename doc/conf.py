# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Sphinx configuration of the iovhost guides. Built by doc/meson.build
# (`ninja -C build doc`) with Debian's python3-sphinx; the Read the Docs
# theme is used when python3-sphinx-rtd-theme is installed, Sphinx's
# default theme otherwise.

import os

_here = os.path.dirname(os.path.abspath(__file__))

project = 'iovhost'
author = 'The iovhost authors'
copyright = '2026, The iovhost authors'
with open(os.path.join(_here, '..', 'VERSION'), encoding='utf-8') as f:
    version = release = f.read().strip()

master_doc = 'index'
source_suffix = '.rst'
language = 'en'
# Only the guides: not the build directory, should one live below doc/.
exclude_patterns = ['_build', 'html', 'doctrees', '**/__pycache__']
highlight_language = 'none'
pygments_style = 'sphinx'
numfig = False
# Cross-references to sections by their title: :ref:`<doc>:<title>`.
extensions = ['sphinx.ext.autosectionlabel']
autosectionlabel_prefix_document = True

try:
    import sphinx_rtd_theme  # noqa: F401 (only probing for it)
    html_theme = 'sphinx_rtd_theme'
    html_theme_options = {'navigation_depth': 3}
except ImportError:
    html_theme = 'alabaster'

html_title = 'iovhost %s guides' % release
html_show_sourcelink = True
html_copy_source = True
# Two sections of one guide may share a title ("Examples"): that only
# makes the automatic label ambiguous, it is not an error in the guide.
suppress_warnings = ['autosectionlabel.*']
