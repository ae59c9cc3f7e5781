; expect: cnc forbidden line 2: M6 is forbidden
M6 T2
