package loadgen

// The material simulated browsers are made of. Everything here is real-looking
// on purpose: the collector's parser, the URL and user-agent columns and the
// queries over them should see what production sees.

// userAgents are current desktop and mobile browsers, weighted roughly like
// web traffic by repetition (Chrome on Android and Windows, Safari on iOS).
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36 Edg/139.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:142.0) Gecko/20100101 Firefox/142.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:142.0) Gecko/20100101 Firefox/142.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/139.0.7258.76 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22G86 [FBAN/FBIOS;FBAV/520.0.0.38.101;FBBV/756351234;FBDV/iPhone15,3;FBMD/iPhone;FBSN/iOS;FBSV/18.6;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]",
	"Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/139.0.7258.94 Mobile Safari/537.36 Instagram 395.0.0.42.82 Android",
	"Mozilla/5.0 (Android 14; Mobile; rv:142.0) Gecko/142.0 Firefox/142.0",
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Mobile Safari/537.36 OPR/90.0.0.0",
}

// languages are Accept-Language headers, paired with a currency.
var languages = []struct{ acceptLanguage, currency string }{
	{"en-US,en;q=0.9", "USD"},
	{"en-US,en;q=0.9", "USD"},
	{"en-GB,en;q=0.9", "GBP"},
	{"de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "EUR"},
	{"de-CH,de;q=0.9,fr;q=0.8,en;q=0.6", "CHF"},
	{"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "EUR"},
	{"es-ES,es;q=0.9", "eur"}, // lower case: valid, stored upper case
	{"ja-JP,ja;q=0.9,en;q=0.8", "JPY"},
	{"ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "RUB"},
	{"sv-SE,sv;q=0.9,en;q=0.8", "SEK"},
	{"pt-BR,pt;q=0.9,en;q=0.8", "BRL"},
}

// sites are the shops the pixel ids are embedded in (pixel id i is on site i
// modulo len(sites)).
var sites = []string{
	"https://shop.example.com",
	"https://www.example-boutique.fr",
	"https://laden.example.de",
	"https://store.example.co.jp",
}

// products are product slugs, several with non-ASCII letters and one with
// an emoji, as shop systems generate them from product names.
var products = []struct{ slug, name, sku string }{
	{"linen-shirt-relaxed", "Linen shirt, relaxed fit", "SKU-10482"},
	{"schöne-tasse-steingut", "Schöne Tasse „Steingut“", "SKU-20931"},
	{"café-crème-beans-1kg", "Café crème beans 1 kg", "SKU-33107"},
	{"抹茶-セット", "抹茶セット（茶筅付き）", "SKU-40219"},
	{"чайник-фарфор", "Чайник фарфоровый 1,2 л", "SKU-51876"},
	{"naïve-print-a3", "Naïve print A3", "SKU-60044"},
	{"ñandú-plush", "Peluche de ñandú", "SKU-71530"},
	{"gift-box-🎁", "Gift box 🎁 deluxe", "SKU-80001"},
	{"zürich-mug", "Zürich mug 350 ml", "SKU-90210"},
	{"smørrebrød-board", "Smørrebrød board, oak", "SKU-11235"},
	{"wireless-earbuds-pro", "Wireless earbuds Pro", "SKU-12358"},
	{"organic-cotton-tee", "Organic cotton tee", "SKU-13213"},
	{"ceramic-vase-large", "Ceramic vase, large", "SKU-14558"},
	{"running-shoes-42", "Running shoes, size 42", "SKU-15794"},
}

var categories = []string{
	"new-arrivals", "sale", "küche", "men/shirts", "women/dresses", "home-decor", "おすすめ", "подарки",
}

var searchTerms = []string{
	"grüne tasse", "linen shirt", "café", "抹茶", "gift for mom", "чайник", "size 42 shoes", "vase 30cm",
}

var blogPosts = []string{
	"how-to-brew-matcha", "10-gift-ideas-under-50", "linen-care-guide", "behind-the-scenes-été-2026",
}

var thankYouPaths = []string{
	"/checkout/thank-you", "/checkout/orders/confirmed", "/checkout/success",
}

var leadPaths = []string{
	"/newsletter/confirmed", "/contact/thanks", "/pages/quote-request/done", "/account/register/welcome",
}

var campaigns = []string{
	"spring_sale_2026", "retargeting_7d", "brand_search", "Black Friday", "été-2026", "new_collection", "lookalike_1pct",
}

// Where a visit comes from. A source sets the referrer (rl) and the
// utm_* parameters of the landing URL.
type source struct {
	weight   int
	referrer []string // "" = no referrer
	utm      string   // utm_source=...&utm_medium=..., without campaign
	clickID  string   // gclid, fbclid, ... appended with a random value
}

var sources = []source{
	{weight: 34, referrer: []string{""}},
	{weight: 20, referrer: []string{"https://www.google.com/", "https://www.google.de/", "https://www.bing.com/", "https://duckduckgo.com/", "https://yandex.ru/", "https://search.yahoo.co.jp/"}},
	{weight: 10, referrer: []string{"https://www.google.com/"}, utm: "utm_source=google&utm_medium=cpc", clickID: "gclid"},
	{weight: 8, referrer: []string{"https://l.facebook.com/", "https://lm.facebook.com/", "https://www.instagram.com/", "https://t.co/", "https://www.reddit.com/", "https://www.pinterest.com/", "https://www.tiktok.com/"}},
	{weight: 8, referrer: []string{"https://l.facebook.com/", "https://www.instagram.com/"}, utm: "utm_source=facebook&utm_medium=paid_social", clickID: "fbclid"},
	{weight: 2, referrer: []string{"https://www.tiktok.com/"}, utm: "utm_source=tiktok&utm_medium=paid_social", clickID: "ttclid"},
	{weight: 6, referrer: []string{""}, utm: "utm_source=newsletter&utm_medium=email"},
	{weight: 12, referrer: []string{"internal"}},
}

// customProps are the custom cd[...] properties hits may carry.
var customProps = []struct {
	key    string
	values []string
}{
	{"page_type", nil}, // the kind of page
	{"logged_in", []string{"true", "false"}},
	{"ab_test", []string{"checkout_v2", "control", "free_shipping_banner"}},
	{"customer_type", []string{"new", "returning"}},
	{"screen", []string{"1920x1080", "1440x900", "390x844", "412x915", "1280x720"}},
	{"content_name", nil}, // the product's name
}

var leadTypes = []string{"newsletter", "quote", "contact", "account"}

var coupons = []string{"SPRING10", "WELCOME15", "FREESHIP", "VIP-2026"}
