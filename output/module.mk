# output/: the dispatcher and the sinks.
OUTPUT_SRC += output/outputs.c output/csv.c output/text.c
