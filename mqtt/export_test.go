package mqtt

import "crypto/tls"

// dropConnectionForTest cuts the client's network connection under paho,
// without an MQTT DISCONNECT, as a crash or a cut cable would: the broker
// publishes the last will and the client starts reconnecting.
//
// It shuts the socket down rather than closing it: paho treats "use of
// closed network connection" as a deliberate close and would not notice the
// loss until the keep-alive ping fails.
func (c *Client) dropConnectionForTest() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	type halfCloser interface {
		CloseRead() error
		CloseWrite() error
	}
	if hc, ok := conn.(halfCloser); ok {
		_ = hc.CloseWrite()
		_ = hc.CloseRead()
		return
	}
	if conn != nil {
		_ = conn.Close()
	}
}

// DropConnectionForTest exposes dropConnectionForTest to package mqtt_test.
var DropConnectionForTest = (*Client).dropConnectionForTest
