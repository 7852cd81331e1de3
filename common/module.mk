# common/: logging, configuration, the stream entry point.
COMMON_SRC += common/log.c common/config.c common/config_shared.c \
              common/stream.c common/daemon.c
LIB_LIBS   += -linih
