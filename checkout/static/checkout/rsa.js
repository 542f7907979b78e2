/*
 * seToken for JCC in the browser: RSA PKCS#1 v1.5 encryption of the card data with the
 * gateway's public key, so the card number never reaches the shop's server.
 *
 * WebCrypto only offers RSA-OAEP for encryption and the gateway expects PKCS#1 v1.5, hence
 * this small implementation on BigInt. It needs no build step and no third-party code.
 * Exposes window.checkoutSeToken = {parsePublicKey, encrypt, plaintext, build,
 * plaintextForBinding, buildForBinding}.
 */
(function (global) {
  "use strict";

  // DER encoding of the OID 1.2.840.113549.1.1.1 (rsaEncryption).
  var RSA_ENCRYPTION_OID = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

  function base64ToBytes(text) {
    var binary = global.atob(text.replace(/[^A-Za-z0-9+/=]/g, ""));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function bytesToBase64(bytes) {
    var binary = "";
    // Chunks keep String.fromCharCode's argument list short for 4096-bit keys too.
    for (var i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return global.btoa(binary);
  }

  function bytesToBigInt(bytes) {
    var hex = "0x0";
    for (var i = 0; i < bytes.length; i++) hex += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return BigInt(hex);
  }

  function bigIntToBytes(value, length) {
    var hex = value.toString(16);
    if (hex.length > length * 2) throw new Error("value does not fit the key size");
    hex = hex.padStart(length * 2, "0");
    var bytes = new Uint8Array(length);
    for (var i = 0; i < length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  // Minimal DER reader: just enough of ASN.1 for SubjectPublicKeyInfo and RSAPublicKey.
  function DerReader(bytes, start, end) {
    this.bytes = bytes;
    this.pos = start || 0;
    this.end = end === undefined ? bytes.length : end;
  }

  DerReader.prototype.read = function (expectedTag) {
    if (this.pos + 2 > this.end) throw new Error("truncated key");
    var tag = this.bytes[this.pos++];
    if (tag !== expectedTag) throw new Error("unexpected ASN.1 tag 0x" + tag.toString(16));
    var length = this.bytes[this.pos++];
    if (length & 0x80) {
      var count = length & 0x7f;
      if (count < 1 || count > 4) throw new Error("unsupported ASN.1 length");
      length = 0;
      for (var i = 0; i < count; i++) {
        if (this.pos >= this.end) throw new Error("truncated key");
        length = length * 256 + this.bytes[this.pos++];
      }
    }
    var start = this.pos;
    if (start + length > this.end) throw new Error("truncated key");
    this.pos = start + length;
    return { start: start, end: start + length };
  };

  DerReader.prototype.child = function (tag) {
    var item = this.read(tag);
    return new DerReader(this.bytes, item.start, item.end);
  };

  DerReader.prototype.integer = function () {
    var item = this.read(0x02);
    var bytes = this.bytes.subarray(item.start, item.end);
    if (bytes.length === 0 || bytes[0] & 0x80) throw new Error("negative or empty integer");
    return bytesToBigInt(bytes);
  };

  function readRsaPublicKey(reader) {
    var seq = reader.child(0x30);
    var n = seq.integer();
    var e = seq.integer();
    return { n: n, e: e, size: Math.ceil(n.toString(16).length / 2) };
  }

  function readSubjectPublicKeyInfo(der) {
    var spki = new DerReader(der).child(0x30);
    var algorithm = spki.child(0x30);
    var oid = algorithm.read(0x06);
    var oidBytes = der.subarray(oid.start, oid.end);
    if (
      oidBytes.length !== RSA_ENCRYPTION_OID.length ||
      !RSA_ENCRYPTION_OID.every(function (b, i) { return oidBytes[i] === b; })
    ) {
      throw new Error("not an RSA public key");
    }
    var bits = spki.read(0x03);
    if (der[bits.start] !== 0) throw new Error("unexpected unused bits in key");
    return readRsaPublicKey(new DerReader(der, bits.start + 1, bits.end));
  }

  /*
   * Accepts "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo, what se/keys.do serves,
   * often without line breaks), "-----BEGIN RSA PUBLIC KEY-----" (PKCS#1), or the bare
   * Base64 of a SubjectPublicKeyInfo.
   */
  function parsePublicKey(pem) {
    var text = String(pem || "").trim();
    if (!text) throw new Error("no public key");
    var pkcs1 = /-----BEGIN RSA PUBLIC KEY-----/.test(text);
    var body = text.replace(/-----(BEGIN|END) [A-Z ]+-----/g, "");
    var der = base64ToBytes(body);
    var key = pkcs1 ? readRsaPublicKey(new DerReader(der)) : readSubjectPublicKeyInfo(der);
    if (key.size < 128) throw new Error("RSA key too small");
    return key;
  }

  function modPow(base, exponent, modulus) {
    var result = 1n;
    base %= modulus;
    while (exponent > 0n) {
      if (exponent & 1n) result = (result * base) % modulus;
      exponent >>= 1n;
      base = (base * base) % modulus;
    }
    return result;
  }

  function nonZeroRandomBytes(count) {
    var out = new Uint8Array(count);
    var filled = 0;
    while (filled < count) {
      var batch = global.crypto.getRandomValues(new Uint8Array(count - filled + 8));
      for (var i = 0; i < batch.length && filled < count; i++) {
        if (batch[i] !== 0) out[filled++] = batch[i];
      }
    }
    return out;
  }

  // RSAES-PKCS1-v1_5 (RFC 8017, 7.2.1): EM = 0x00 || 0x02 || PS (non-zero) || 0x00 || M.
  function encrypt(key, message) {
    var k = key.size;
    if (message.length > k - 11) throw new Error("message too long for the key");
    var em = new Uint8Array(k);
    em[1] = 0x02;
    em.set(nonZeroRandomBytes(k - message.length - 3), 2);
    em.set(message, k - message.length);
    var c = modPow(bytesToBigInt(em), key.e, key.n);
    return bigIntToBytes(c, k);
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // ISO 8601 in local time with a colon in the offset and no milliseconds.
  function timestamp(date) {
    var offset = -date.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    offset = Math.abs(offset);
    return (
      date.getFullYear() + "-" + pad2(date.getMonth() + 1) + "-" + pad2(date.getDate()) +
      "T" + pad2(date.getHours()) + ":" + pad2(date.getMinutes()) + ":" + pad2(date.getSeconds()) +
      sign + pad2(Math.floor(offset / 60)) + ":" + pad2(offset % 60)
    );
  }

  // randomUUID exists only in secure contexts; a shop served over plain HTTP still needs one.
  function uuid4() {
    if (typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    var b = global.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  /*
   * The nine slots of the seToken plain text, empty ones kept:
   * timestamp/uuid/PAN/CVV/EXPDATE(YYYYMM)/mdOrder/bindingId/cardholder/registeredFrom.
   * mdOrder stays empty for instantPayment.do: the gateway order does not exist yet.
   */
  function plaintext(card, options) {
    options = options || {};
    var pan = String(card.pan || "").replace(/\D/g, "");
    var cvc = String(card.cvc || "").replace(/\D/g, "");
    var expiry = String(card.expiry || "");
    if (!/^\d{13,19}$/.test(pan)) throw new Error("card number must have 13 to 19 digits");
    if (!/^\d{4}(0[1-9]|1[0-2])$/.test(expiry)) throw new Error("expiry must be YYYYMM");
    // A "/" would shift every later slot; the gateway accepts Latin letters only anyway.
    var name = String(card.cardholderName || "").replace(/[^A-Za-z .'-]/g, "").trim();
    return [
      timestamp(options.now || new Date()),
      options.uuid || uuid4(),
      pan,
      cvc,
      expiry,
      options.mdOrder || "",
      options.bindingId || "",
      name,
      options.registeredFrom || "",
    ].join("/");
  }

  /*
   * A saved card's seToken plain text: its bindingId in slot 7 and the CVC (empty when the
   * merchant may pay without one); no card number, no expiry.
   */
  function plaintextForBinding(bindingId, cvc, options) {
    options = options || {};
    var id = String(bindingId || "");
    var code = String(cvc || "").replace(/\D/g, "");
    if (!id || id.indexOf("/") !== -1) throw new Error("a bindingId without '/' is needed");
    if (code && !/^\d{3,4}$/.test(code)) throw new Error("the CVC must have 3 or 4 digits");
    return [
      timestamp(options.now || new Date()),
      options.uuid || uuid4(),
      "",
      code,
      "",
      "",
      id,
      "",
      options.registeredFrom || "",
    ].join("/");
  }

  function encryptText(publicKeyPem, text) {
    return bytesToBase64(encrypt(parsePublicKey(publicKeyPem), new TextEncoder().encode(text)));
  }

  function buildForBinding(bindingId, cvc, publicKeyPem, options) {
    return encryptText(publicKeyPem, plaintextForBinding(bindingId, cvc, options));
  }

  function build(card, publicKeyPem, options) {
    var key = parsePublicKey(publicKeyPem);
    var bytes = new TextEncoder().encode(plaintext(card, options));
    return bytesToBase64(encrypt(key, bytes));
  }

  global.checkoutSeToken = {
    parsePublicKey: parsePublicKey,
    encrypt: encryptText,
    plaintext: plaintext,
    build: build,
    plaintextForBinding: plaintextForBinding,
    buildForBinding: buildForBinding,
  };
})(window);
