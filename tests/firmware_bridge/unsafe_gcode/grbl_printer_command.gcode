; expect: laser unsupported line 2: GRBL does not support M104
M104 S200
