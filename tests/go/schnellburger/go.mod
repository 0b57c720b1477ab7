module tower-hmac.test/schnellburger

go 1.19
