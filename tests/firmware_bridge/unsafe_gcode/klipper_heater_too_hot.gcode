; expect: klipper temperature line 2: hotend temperature 320
SET_HEATER_TEMPERATURE HEATER=extruder TARGET=320
