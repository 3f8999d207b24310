package googleads

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/pixel-pipeline/pixel/pkg/event"
)

// MaxPerRequest is the most conversions one uploadClickConversions request
// takes: "fewer than 2,001" (legacy_oci_guide); more are refused as
// TOO_MANY_MUTATE_OPERATIONS.
const MaxPerRequest = 2000

// MaxUserIdentifiers is the most user identifiers a ClickConversion takes
// (ClickConversion.user_identifiers: "The maximum number … is 5"); we send
// at most two, an email and a phone.
const MaxUserIdentifiers = 5

// Request is one uploadClickConversions call: its customer, its JSON body
// and the conversions in it, in body order, so that Google's per-row
// answers (indexes into conversions[]) map back to events.
type Request struct {
	CustomerID  string
	Body        []byte
	Conversions []Conversion
}

// BuildOptions are the per-call knobs of Build.
type BuildOptions struct {
	// MaxPerRequest splits the conversions into requests of at most this
	// many; 0 means MaxPerRequest, more than MaxPerRequest is an error.
	MaxPerRequest int
	// ValidateOnly asks Google to check the request without recording it
	// (UploadClickConversionsRequest.validate_only): for a setup test.
	ValidateOnly bool
}

// Build splits convs into requests for customerID of at most
// opts.MaxPerRequest conversions each, in order, and writes each body.
func Build(customerID string, convs []Conversion, opts BuildOptions) ([]Request, error) {
	if !digits(customerID) {
		return nil, fmt.Errorf("cannot build the upload: customer id %q is not digits (write it without dashes)", customerID)
	}
	n := opts.MaxPerRequest
	switch {
	case n == 0:
		n = MaxPerRequest
	case n < 0 || n > MaxPerRequest:
		return nil, fmt.Errorf("cannot build the upload: %d conversions per request is outside 1..%d (Google's limit)", n, MaxPerRequest)
	}
	var reqs []Request
	for len(convs) > 0 {
		k := min(n, len(convs))
		body, err := AppendBody(nil, convs[:k], opts.ValidateOnly)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, Request{CustomerID: customerID, Body: body, Conversions: convs[:k:k]})
		convs = convs[k:]
	}
	return reqs, nil
}

// ErrValue is returned for a conversion value JSON cannot hold (NaN, ±Inf).
var ErrValue = errors.New("googleads: conversion value is not a finite number")

// AppendBody appends the REST JSON body of an UploadClickConversionsRequest
// holding convs to dst. Field names are the proto fields in lowerCamelCase,
// as the REST interface of the Google Ads API takes them (proto3 JSON
// mapping); partialFailure is always true: "Partial failure mode is
// required for conversion uploads … Setting partial_failure = false or
// omitting the field … causes the entire request to fail"
// (UploadClickConversionsRequest, v26). It writes by hand, without
// reflection, so that a forwarder can reuse one buffer.
func AppendBody(dst []byte, convs []Conversion, validateOnly bool) ([]byte, error) {
	dst = append(dst, `{"conversions":[`...)
	for i := range convs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendConversion(dst, &convs[i]); err != nil {
			return nil, err
		}
	}
	dst = append(dst, `],"partialFailure":true`...)
	if validateOnly {
		dst = append(dst, `,"validateOnly":true`...)
	}
	return append(dst, '}'), nil
}

func appendConversion(dst []byte, c *Conversion) ([]byte, error) {
	switch c.Kind {
	case GCLID:
		dst = appendField(dst, `{"gclid":`, c.ClickID)
	case WBRAID:
		dst = appendField(dst, `{"wbraid":`, c.ClickID)
	case GBRAID:
		dst = appendField(dst, `{"gbraid":`, c.ClickID)
	default:
		return nil, ErrNoClickID
	}
	dst = appendField(dst, `,"conversionAction":`, c.ConversionAction)
	dst = append(dst, `,"conversionDateTime":"`...) // digits and punctuation: nothing to escape
	dst = c.Time.AppendFormat(dst, dateTimeLayout)
	dst = append(dst, '"')
	if c.HasValue {
		if math.IsNaN(c.Value) || math.IsInf(c.Value, 0) {
			return nil, ErrValue
		}
		dst = append(dst, `,"conversionValue":`...)
		dst = strconv.AppendFloat(dst, c.Value, 'f', -1, 64)
	}
	if c.Currency != "" {
		dst = appendField(dst, `,"currencyCode":`, c.Currency)
	}
	if c.OrderID != "" {
		dst = appendField(dst, `,"orderId":`, c.OrderID)
	}
	// User identifiers go only with a gclid (VALUE_MUST_BE_UNSET with a
	// wbraid or gbraid), one identifier per UserIdentifier object ("oneof
	// identifier is mutually exclusive").
	if c.Kind == GCLID && (c.HashedEmail != "" || c.HashedPhone != "") {
		dst = append(dst, `,"userIdentifiers":[`...)
		if c.HashedEmail != "" {
			dst = appendField(dst, `{"hashedEmail":`, c.HashedEmail)
			dst = append(dst, '}')
		}
		if c.HashedPhone != "" {
			if c.HashedEmail != "" {
				dst = append(dst, ',')
			}
			dst = appendField(dst, `{"hashedPhoneNumber":`, c.HashedPhone)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	// Consent: only ad_user_data. ad_personalization "can only be set for
	// OfflineUserDataJobService and UserDataService" (Consent, v26), so a
	// click conversion that carried it would be refused.
	if c.AdUserData != "" {
		dst = appendField(dst, `,"consent":{"adUserData":`, c.AdUserData)
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

func appendField(dst []byte, key, value string) []byte {
	dst = append(dst, key...)
	return event.AppendString(dst, []byte(value))
}
