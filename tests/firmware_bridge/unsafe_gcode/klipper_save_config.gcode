; expect: klipper forbidden line 3: SAVE_CONFIG is forbidden
PID_CALIBRATE HEATER=extruder TARGET=210
SAVE_CONFIG
