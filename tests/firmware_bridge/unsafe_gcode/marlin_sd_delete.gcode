; expect: marlin forbidden line 3: M30 is forbidden
G28
M30 part.gcode
