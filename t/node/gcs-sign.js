// Signs GCS V4 URLs with Google's client library, for t/050-gcs-sign-client.t.
//   node gcs-sign.js MODULES_DIR KEY_FILE EPOCH EXPIRES BUCKET STYLE NAME...
// STYLE: path, virtual, or bound=<url> (a bucket-bound hostname). Prints one
// URL per name. The clock is frozen at EPOCH so that the URLs can be
// compared byte for byte with nixery-sign's.
'use strict';
const path = require('path');
const fs = require('fs');

const [modules, keyFile, epoch, expires, bucket, style, ...names] =
    process.argv.slice(2);
const fixed = Number(epoch) * 1000;

const RealDate = Date;
class FrozenDate extends RealDate {
    constructor(...args) {
        if (args.length === 0) {
            super(fixed);
        } else {
            super(...args);
        }
    }
    static now() {
        return fixed;
    }
}
global.Date = FrozenDate;

const {Storage} = require(
    path.join(modules, 'node_modules', '@google-cloud', 'storage'));
const key = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
const storage = new Storage({
    projectId: 'nixery-test',
    credentials: {client_email: key.client_email, private_key: key.private_key},
});

async function main() {
    const options = {
        version: 'v4',
        action: 'read',
        expires: fixed + Number(expires) * 1000,
    };
    if (style === 'virtual') {
        options.virtualHostedStyle = true;
    } else if (style.startsWith('bound=')) {
        options.cname = style.slice('bound='.length);
    }
    for (const name of names) {
        const [url] = await storage.bucket(bucket).file(name).getSignedUrl(
            options);
        process.stdout.write(url + '\n');
    }
}

main().catch((e) => {
    process.stderr.write(`gcs-sign.js: ${e.message}\n`);
    process.exit(1);
});
