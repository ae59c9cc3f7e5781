; expect: marlin malformed line 2: is not a G-code word
PRINT_START BED=60
