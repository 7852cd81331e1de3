# common/: logging, configuration, the stream entry point.
COMMON_SRC += common/log.c common/config.c common/stream.c common/daemon.c \
              common/program.c
LIB_LIBS   += -linih
