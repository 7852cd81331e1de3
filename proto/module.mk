# SPDX-License-Identifier: GPL-2.0-or-later
# proto/: the Omnik protocol core. Pure code, no libraries.
PROTO_SRC += proto/framer.c proto/decode.c proto/encode.c proto/status.c
# The bottom layer: it sees only itself, so a wrong-way include (an
# upper folder's header) fails to build.
$(B)/proto/%.o: INCLUDES = -Iproto
