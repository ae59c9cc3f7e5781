; expect: klipper temperature line 2: bed temperature 140
PRINT_START EXTRUDER=240 BED=140
