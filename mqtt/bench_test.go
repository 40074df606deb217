package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/z2m-mcp/z2m-mcp/mqtt"
	"github.com/z2m-mcp/z2m-mcp/mqtt/mqtttest"
)

// BenchmarkPublishRoundTrip measures publish → receive through the broker
// mqtttest picks, one message in flight at a time; ns/op is the latency.
func BenchmarkPublishRoundTrip(b *testing.B) {
	broker := mqtttest.New(b)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			connect := func() *mqtt.Client {
				c, err := mqtt.New(mqtt.Config{URL: broker.URL, Logger: zerolog.Nop()})
				require.NoError(b, err)
				b.Cleanup(c.Close)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				require.NoError(b, c.Connect(ctx))
				return c
			}
			pub, sub := connect(), connect()
			topic := fmt.Sprintf("bench/%d/%d", qos, time.Now().UnixNano())
			got := make(chan struct{}, 1)
			sub.Subscribe(topic, qos, func(mqtt.Message) { got <- struct{}{} })
			ctx := context.Background()
			// Wait until the subscription is live.
			require.Eventually(b, func() bool {
				_ = pub.PublishQoS(ctx, topic, qos, false, []byte("warmup"))
				select {
				case <-got:
					return true
				case <-time.After(100 * time.Millisecond):
					return false
				}
			}, wait, time.Millisecond)
			payload := []byte(`{"state":"ON","brightness":254}`)
			b.ResetTimer()
			for b.Loop() {
				if err := pub.PublishQoS(ctx, topic, qos, false, payload); err != nil {
					b.Fatal(err)
				}
				select {
				case <-got:
				case <-time.After(wait):
					b.Fatal("message not received")
				}
			}
		})
	}
}
