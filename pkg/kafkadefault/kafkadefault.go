// Package kafkadefault is where the pipeline's Kafka clients and brokers meet
// when nobody says otherwise: the bootstrap address and the topic names. The
// collector's publisher, the consumer, devbroker and make run take their
// defaults from here, so that each is written once.
package kafkadefault

// Broker is the bootstrap broker a client dials by default, and where
// devbroker listens by default.
const Broker = "127.0.0.1:9092"

// Topic is the topic of the events (see schemas/event-format.md).
const Topic = "pixel.events"

// DeadLetterTopic is the default dead-letter topic of topic: where the
// consumer sends the messages of topic that are not valid events.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// ForwardDeadLetterTopic is where the forwarder sends the events an ad
// platform refused for good, with the platform's answer.
const ForwardDeadLetterTopic = "pixel.forward.dlq"
