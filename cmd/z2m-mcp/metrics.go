package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/z2m-mcp/z2m-mcp/devices"
)

// metrics are z2m-mcp's Prometheus series, on a registry of their own.
type metrics struct {
	reg        *prometheus.Registry
	toolCalls  *prometheus.CounterVec
	targets    *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	toolDur    *prometheus.HistogramVec
	mqttIn     prometheus.CounterFunc
	mqttOut    prometheus.CounterFunc
	reconnects prometheus.CounterFunc
}

func newMetrics(a *app) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.toolCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "z2m_mcp_tool_calls_total", Help: "MCP tool calls by tool and outcome (ok or error).",
	}, []string{"tool", "outcome"})
	m.targets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "z2m_mcp_target_results_total", Help: "Per-target results of setters by tool and status.",
	}, []string{"tool", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "z2m_mcp_confirmation_seconds",
		Help:    "Time from a command to its per-target outcome, by status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"status"})
	m.toolDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "z2m_mcp_tool_call_seconds", Help: "Tool call duration by tool.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"tool"})
	stats := a.client.Stats
	m.mqttIn = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "z2m_mcp_mqtt_messages_received_total", Help: "MQTT messages received.",
	}, func() float64 { return float64(stats().MessagesIn) })
	m.mqttOut = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "z2m_mcp_mqtt_messages_sent_total", Help: "MQTT messages published.",
	}, func() float64 { return float64(stats().MessagesOut) })
	m.reconnects = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "z2m_mcp_mqtt_reconnects_total", Help: "MQTT reconnections after a lost connection.",
	}, func() float64 { return float64(stats().Reconnects) })
	gauge := func(name, help string, f func(*devices.Snapshot) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(a.model.Snapshot()) })
	}
	m.reg.MustRegister(m.toolCalls, m.targets, m.latency, m.toolDur, m.mqttIn, m.mqttOut, m.reconnects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("z2m_mcp_devices", "Devices known from bridge/devices (without the coordinator).", func(s *devices.Snapshot) float64 {
			n := 0
			for _, d := range s.Devices() {
				if d.Type != "Coordinator" {
					n++
				}
			}
			return float64(n)
		}),
		gauge("z2m_mcp_groups", "Groups known from bridge/groups.", func(s *devices.Snapshot) float64 { return float64(len(s.Groups())) }),
		gauge("z2m_mcp_devices_offline", "Devices Zigbee2MQTT reports offline.", func(s *devices.Snapshot) float64 {
			n := 0
			for _, d := range s.Devices() {
				if a.model.Availability(d.IEEEAddress) == devices.AvailabilityOffline {
					n++
				}
			}
			return float64(n)
		}),
		gauge("z2m_mcp_bridge_online", "1 while Zigbee2MQTT's bridge/state is online.", func(s *devices.Snapshot) float64 {
			if s.Bridge.Online() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "z2m_mcp_mqtt_connected", Help: "1 while connected to the broker."}, func() float64 {
			if a.model.Connected() {
				return 1
			}
			return 0
		}),
	)
	return m
}

// ToolCall implements mcp.Observer.
func (m *metrics) ToolCall(tool string, isError bool, d time.Duration) {
	outcome := "ok"
	if isError {
		outcome = "error"
	}
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolDur.WithLabelValues(tool).Observe(d.Seconds())
}

// TargetResult implements mcp.Observer.
func (m *metrics) TargetResult(tool string, r devices.Result) {
	m.targets.WithLabelValues(tool, string(r.Status)).Inc()
	m.latency.WithLabelValues(string(r.Status)).Observe(float64(r.LatencyMS) / 1000)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
