package relay

import (
	"math"
	"strconv"
)

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func formatScore(f float64) string { return strconv.FormatFloat(round1(f), 'f', -1, 64) }
