; expect: cnc forbidden line 2: G10 is forbidden
G10 L20 P1 X0 Y0 Z0
