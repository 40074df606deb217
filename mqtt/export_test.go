package mqtt

// dropConnectionForTest closes the client's network connection under paho,
// without an MQTT DISCONNECT, as a crash or a cut cable would: the broker
// publishes the last will and the client starts reconnecting.
func (c *Client) dropConnectionForTest() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
}

// DropConnectionForTest exposes dropConnectionForTest to package mqtt_test.
var DropConnectionForTest = (*Client).dropConnectionForTest
