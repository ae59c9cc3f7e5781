; expect: marlin temperature line 3: hotend temperature 300 °C is above
G28
M104 S300
